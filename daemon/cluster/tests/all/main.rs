//! Cluster mode against a real etcd (Debian's etcd-server), started on
//! loopback with a temp data dir for each test.

mod etcd;
mod jobs;
mod jobs_watch;
mod membership;
mod modules;
mod placement;
mod proxy;
mod support;
