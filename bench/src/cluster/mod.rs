//! The cluster benchmark harness's parts (the binary is `src/bin/cluster/`): the
//! workload file, the JSON result, the network namespaces and cgroups the
//! emulated nodes run in, and the report and plots made from a result.

pub mod cgroup;
pub mod netns;
pub mod plot;
pub mod report;
pub mod result;
pub mod workload;
