//! Integration tests of epochd-cgroups on the host's real cgroups (they need root:
//! without it each prints why it skips). CPU-measuring tests run one at a time
//! ([`support::measuring`]) so they do not compete with each other for the 2 cores.

mod caps;
mod errors;
mod placement;
mod removal;
mod support;
