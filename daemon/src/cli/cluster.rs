//! `epochd cluster status`: the cluster as the node at --url sees it.

use reqwest::Method;
use serde_json::Value;

use super::args::{ClientArgs, ClusterCommand};
use super::client::{Out, Remote};
use super::format::{num, str_or, table, utc};
use crate::clock::now_ms;

/// Runs `epochd cluster ...`.
pub async fn cluster(args: ClientArgs, command: ClusterCommand) -> anyhow::Result<()> {
    let remote = Remote::new(&args)?;
    let ClusterCommand::Status { json } = command;
    let status = remote
        .json(remote.request(Method::GET, remote.url(&["v1", "cluster"])))
        .await?;
    let lines = if json {
        vec![serde_json::to_string_pretty(&status)?]
    } else {
        status_lines(&status, now_ms() / 1000)
    };
    let out = Out::new();
    for line in lines {
        if out.line(&line).is_err() {
            break;
        }
    }
    Ok(())
}

/// The status for a person: who answers, then one line per node.
fn status_lines(status: &Value, now: u64) -> Vec<String> {
    let mut lines = vec![format!(
        "cluster {}, seen from {} ({}, lease {}, registrations {})",
        str_or(&status["cluster"], "?"),
        str_or(&status["node_id"], "?"),
        if status["registered"] == true {
            "registered"
        } else {
            "NOT registered: etcd unreachable?"
        },
        num(&status["lease"]),
        num(&status["registrations"]),
    )];
    let mut rows = vec![[
        "NODE".to_owned(),
        "URL".to_owned(),
        "STATE".to_owned(),
        "CLOSED THROUGH".to_owned(),
        "LAG S".to_owned(),
    ]];
    for node in status["nodes"].as_array().into_iter().flatten() {
        let closed = node["closed_through"].as_u64();
        rows.push([
            str_or(&node["node_id"], "?").to_owned(),
            str_or(&node["url"], "-").to_owned(),
            str_or(&node["state"], "live").to_owned(),
            closed.map_or_else(|| "-".to_owned(), utc),
            closed.map_or_else(|| "-".to_owned(), |c| now.saturating_sub(c).to_string()),
        ]);
    }
    lines.extend(table(&rows, 3));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_node_gets_a_line_with_its_lag() {
        let status = json!({
            "cluster": "prod", "node_id": "a", "registered": true, "lease": 7,
            "registrations": 1,
            "nodes": [
                {"node_id": "a", "url": "http://10.0.0.1:8790", "closed_through": 1_700_000_000_u64},
                {"node_id": "bb", "url": "http://10.0.0.2:8790", "state": "lease gone"},
            ],
        });
        let lines = status_lines(&status, 1_700_000_005);
        assert_eq!(lines.len(), 4, "{lines:#?}");
        assert!(lines[0].starts_with("cluster prod, seen from a (registered"));
        assert!(
            lines[2].contains("2023-11-14T22:13:20Z") && lines[2].ends_with(" 5"),
            "{}",
            lines[2]
        );
        assert!(
            lines[3].contains("lease gone") && lines[3].ends_with('-'),
            "{}",
            lines[3]
        );
    }
}
