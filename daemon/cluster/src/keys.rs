//! The key layout in etcd (docs/CLUSTER.md, "Key layout"): everything of a
//! cluster lives under `/epochd/<cluster>/`, so several clusters can share
//! one etcd. Every key this crate reads or writes is built here and nowhere
//! else, so the layout is one page to read and to keep stable.
//!
//! | key | value |
//! |---|---|
//! | `/epochd/<cluster>/nodes/<node-id>` | a node's [`NodeInfo`](crate::NodeInfo), under its lease |
//! | `/epochd/<cluster>/jobs/<name>` | a [`ClusterJob`](crate::ClusterJob) |
//! | `/epochd/<cluster>/modules/<sha256>/<node-id>` | the node id: that node holds the module |
//! | `/epochd/<cluster>/placement` | the [`PlacementTable`](crate::PlacementTable) |

/// Whether `name` may be a cluster name or a node id: 1 to 64 ASCII
/// letters, digits, `-`, `_` or `.`. No `/`, so a name is one key segment.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// Whether `name` may be a job's name: the HTTP API's rule (docs/API.md,
/// "Jobs"): 1 to 64 of `a-z 0-9 _ -`, starting with a letter or a digit.
pub fn valid_job_name(name: &str) -> bool {
    let first_ok = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    first_ok
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// Whether `sha` is a SHA-256 as this crate writes it: 64 lowercase hex
/// digits (so one module has exactly one key).
pub fn valid_sha256(sha: &str) -> bool {
    sha.len() == 64 && sha.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The prefix of everything of `cluster`.
fn cluster_prefix(cluster: &str) -> String {
    format!("/epochd/{cluster}/")
}

/// The prefix of every node's registration in `cluster`.
pub fn nodes_prefix(cluster: &str) -> String {
    format!("{}nodes/", cluster_prefix(cluster))
}

/// A node's registration key.
pub fn node_key(cluster: &str, node_id: &str) -> String {
    format!("{}{node_id}", nodes_prefix(cluster))
}

/// The prefix of every job of `cluster` (the job registry's watch range).
pub fn jobs_prefix(cluster: &str) -> String {
    format!("{}jobs/", cluster_prefix(cluster))
}

/// A job's key.
pub fn job_key(cluster: &str, name: &str) -> String {
    format!("{}{name}", jobs_prefix(cluster))
}

/// The prefix of every module holder of `cluster`, all modules.
pub fn modules_prefix(cluster: &str) -> String {
    format!("{}modules/", cluster_prefix(cluster))
}

/// The prefix of the holders of one module.
pub fn module_prefix(cluster: &str, sha256: &str) -> String {
    format!("{}{sha256}/", modules_prefix(cluster))
}

/// The key saying that `node_id` holds the module `sha256`.
pub fn module_holder_key(cluster: &str, sha256: &str, node_id: &str) -> String {
    format!("{}{node_id}", module_prefix(cluster, sha256))
}

/// The key of the placement table.
pub fn placement_key(cluster: &str) -> String {
    format!("{}placement", cluster_prefix(cluster))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nodes_key_is_under_its_clusters_prefix() {
        assert_eq!(node_key("prod", "n1"), "/epochd/prod/nodes/n1");
        assert!(node_key("prod", "n1").starts_with(&nodes_prefix("prod")));
        // One cluster's prefix does not cover another whose name extends it.
        assert!(!node_key("prod2", "n1").starts_with(&nodes_prefix("prod")));
    }

    #[test]
    fn the_layout_is_the_documented_one() {
        assert_eq!(job_key("prod", "count"), "/epochd/prod/jobs/count");
        assert_eq!(jobs_prefix("prod"), "/epochd/prod/jobs/");
        let sha = "ab".repeat(32);
        assert_eq!(
            module_holder_key("prod", &sha, "n1"),
            format!("/epochd/prod/modules/{sha}/n1")
        );
        assert_eq!(
            module_prefix("prod", &sha),
            format!("/epochd/prod/modules/{sha}/")
        );
        assert_eq!(placement_key("prod"), "/epochd/prod/placement");
    }

    #[test]
    fn no_prefix_covers_another_kind_of_key() {
        let sha = "0".repeat(64);
        let keys = [
            node_key("c", "n"),
            job_key("c", "n"),
            module_holder_key("c", &sha, "n"),
            placement_key("c"),
        ];
        let prefixes = [nodes_prefix("c"), jobs_prefix("c"), modules_prefix("c")];
        for (i, prefix) in prefixes.iter().enumerate() {
            for (j, key) in keys.iter().enumerate() {
                assert_eq!(
                    key.starts_with(prefix.as_str()),
                    i == j,
                    "{key} under {prefix}"
                );
            }
        }
    }

    #[test]
    fn names_are_one_key_segment() {
        assert!(valid_name("node-a.1_x"));
        assert!(!valid_name("a/b"));
        assert!(!valid_name(""));
        assert!(!valid_name(&"a".repeat(65)));
        assert!(valid_job_name("count_2-x"));
        assert!(!valid_job_name("Count"));
        assert!(!valid_job_name("-x"));
        assert!(!valid_job_name("a/b"));
        assert!(!valid_job_name(""));
        assert!(valid_sha256(&"0123456789abcdef".repeat(4)));
        assert!(!valid_sha256(&"0123456789ABCDEF".repeat(4)));
        assert!(!valid_sha256("abc"));
    }
}
