//! The key layout in etcd (docs/CLUSTER.md): everything of a cluster lives
//! under `/epochd/<cluster>/`, so several clusters can share one etcd.

/// The prefix of every node's registration in `cluster`.
pub fn nodes_prefix(cluster: &str) -> String {
    format!("/epochd/{cluster}/nodes/")
}

/// A node's registration key.
pub fn node_key(cluster: &str, node_id: &str) -> String {
    format!("{}{node_id}", nodes_prefix(cluster))
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
}
