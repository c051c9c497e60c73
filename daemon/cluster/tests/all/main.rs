//! Cluster mode against a real etcd (Debian's etcd-server), started on
//! loopback with a temp data dir for each test.

mod etcd;
mod membership;
