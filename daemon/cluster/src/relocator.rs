//! A relocator's side of placement: sending one commit's pre-built chunks
//! to the nodes that own them, over the low-level ingest path (docs/API.md,
//! "Ingest, low level").
//!
//! For one (epoch, dc, seq), [`Relocator::place`] reads the placement table
//! and the live members, finds each chunk's owner ([`range_of`], then the
//! version in effect at the epoch), and gives each owner its chunks (`PUT
//! /v1/chunks/...`) and then a manifest listing only those (`PUT
//! /v1/manifests/{epoch}/{dc}/{seq}`): each node commits its share of the
//! epoch as a commit of its own, under the same key.
//!
//! **Nothing half-done is claimed.** Everything that can be known before
//! sending is checked first (each chunk is a zstd frame, no key twice, a
//! placement covers the epoch, every owner is a live member), and a failure
//! there sends nothing. A node's share is committed only by its manifest,
//! sent after all its chunks were stored; a report lists a node only once
//! its manifest was answered 201 or 200, and if any node failed the whole
//! call fails with [`ClusterError::RelocationIncomplete`], naming the nodes
//! that committed and those that did not.
//!
//! **Retrying is safe.** Chunks are immutable: the same bytes again are
//! answered 200. The placement of a past epoch never changes, so the same
//! chunks make the same manifests, and a node answers a manifest identical
//! to the one it committed with 200 (reported `created: false`) without
//! committing twice. Only a manifest that differs from the committed one is
//! refused (409 `manifest_conflict`): late data goes in a new `seq`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use etcd_client::Client;

use crate::membership::{live_members, NodeInfo};
use crate::placement::range_of;
use crate::placement_etcd::Placement;
use crate::relocator_send::{Entry, Sender};
use crate::ClusterError;

/// One pre-built chunk, as `PUT /v1/chunks` takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelocatedChunk {
    /// The events' type.
    pub event_type: String,
    /// The events' subtype, if they have one.
    pub subtype: Option<String>,
    /// The chunk's number within its (epoch, dc, type, subtype).
    pub chunk: u32,
    /// How many events it holds.
    pub events: u64,
    /// One zstd frame of MessagePack events, declaring its content size.
    pub bytes: Vec<u8>,
}

/// A chunk as placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacedChunk {
    /// The events' type.
    pub event_type: String,
    /// The events' subtype.
    pub subtype: Option<String>,
    /// The chunk's number.
    pub chunk: u32,
    /// Its range ([`range_of`]).
    pub range: u32,
    /// Its events.
    pub events: u64,
}

/// What one node committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeCommit {
    /// The node.
    pub node_id: String,
    /// Its API, as registered.
    pub url: String,
    /// The chunks its manifest lists, in key order.
    pub chunks: Vec<PlacedChunk>,
    /// Their events.
    pub events: u64,
    /// True if this call committed it (201); false if the node had the same
    /// manifest committed already (200: a retry).
    pub created: bool,
}

/// What [`Relocator::place`] did: every node that owns a chunk of the
/// commit, each with its manifest committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacementReport {
    /// The epoch.
    pub epoch: u64,
    /// The data center.
    pub dc: String,
    /// The commit's sequence number.
    pub seq: u32,
    /// The placement version in effect at the epoch.
    pub placement_version: u64,
    /// The nodes, by id.
    pub nodes: Vec<NodeCommit>,
}

/// Sends relocated commits to their owners.
#[derive(Clone)]
pub struct Relocator {
    client: Client,
    cluster: String,
    placement: Placement,
    http: reqwest::Client,
    token: Option<String>,
}

/// One chunk ready to send: its place, its bytes, its manifest entry.
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub(crate) placed: PlacedChunk,
    pub(crate) bytes: Vec<u8>,
    pub(crate) entry: Entry,
}

impl Relocator {
    /// A relocator for `cluster`, reading its placement and members through
    /// `client`, with an HTTP client that gives each request 60 s.
    pub fn new(client: Client, cluster: &str) -> Result<Relocator, ClusterError> {
        let placement = Placement::new(client.clone(), cluster)?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("an HTTP client without TLS builds");
        Ok(Relocator {
            client,
            cluster: cluster.to_owned(),
            placement,
            http,
            token: None,
        })
    }

    /// Sends `Authorization: Bearer <token>`: the nodes' admin token (the
    /// low-level path needs the admin role).
    pub fn with_token(mut self, token: impl Into<String>) -> Relocator {
        self.token = Some(token.into());
        self
    }

    /// Uses this HTTP client (timeouts, proxies of the caller's choosing).
    pub fn with_http(mut self, http: reqwest::Client) -> Relocator {
        self.http = http;
        self
    }

    /// Places one commit: each chunk to the owner of its range at `epoch`,
    /// then each owner's manifest. See the module's doc for what is checked
    /// before anything is sent, what a failure leaves, and why a retry is
    /// safe. `chunks` empty: nothing to send, an empty report.
    pub async fn place(
        &self,
        epoch: u64,
        dc: &str,
        seq: u32,
        chunks: Vec<RelocatedChunk>,
    ) -> Result<PlacementReport, ClusterError> {
        let outgoing = prepare(epoch, dc, chunks)?;
        let (table, _) = self.placement.load().await?;
        let assignment = table
            .assignment_at(epoch)
            .ok_or_else(|| ClusterError::NoPlacement {
                cluster: self.cluster.clone(),
                epoch,
            })?;
        let members: BTreeMap<String, NodeInfo> = live_members(&self.client, &self.cluster)
            .await?
            .into_iter()
            .map(|n| (n.node_id.clone(), n))
            .collect();
        let mut shares: BTreeMap<String, Vec<Outgoing>> = BTreeMap::new();
        let mut by_range: Vec<(u32, Outgoing)> =
            outgoing.into_iter().map(|o| (o.placed.range, o)).collect();
        by_range.sort_by_key(|(range, _)| *range);
        for (range, chunk) in by_range {
            let owner =
                assignment
                    .owners
                    .get(range as usize)
                    .ok_or_else(|| ClusterError::Corrupt {
                        key: crate::keys::placement_key(&self.cluster),
                        reason: format!(
                            "version {} has {} owners, not one per range",
                            assignment.version,
                            assignment.owners.len()
                        ),
                    })?;
            if !members.contains_key(owner) {
                return Err(ClusterError::OwnerNotLive {
                    node: owner.clone(),
                    range,
                });
            }
            shares.entry(owner.clone()).or_default().push(chunk);
        }
        let mut tasks = tokio::task::JoinSet::new();
        for (node_id, mut share) in shares {
            share.sort_by(|a, b| key_order(&a.placed).cmp(&key_order(&b.placed)));
            let node = members[&node_id].clone();
            let sender = Sender {
                http: self.http.clone(),
                token: self.token.clone(),
                base: node.url.trim_end_matches('/').to_owned(),
            };
            let (dc, node_id) = (dc.to_owned(), node_id.clone());
            tasks.spawn(async move {
                let done = sender.commit(epoch, &dc, seq, share).await;
                (node_id, node.url, done)
            });
        }
        let mut committed = Vec::new();
        let mut failed = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            let (node_id, url, done) = joined.expect("a node's upload does not panic");
            match done {
                Ok((chunks, created)) => committed.push(NodeCommit {
                    events: chunks.iter().map(|c| c.events).sum(),
                    node_id,
                    url,
                    chunks,
                    created,
                }),
                Err(why) => failed.push(format!("{node_id}: {why}")),
            }
        }
        committed.sort_by(|a, b| a.node_id.cmp(&b.node_id));
        if !failed.is_empty() {
            failed.sort();
            tracing::warn!(epoch, dc, seq, failed = ?failed, "a relocation did not commit everywhere");
            return Err(ClusterError::RelocationIncomplete {
                epoch,
                dc: dc.to_owned(),
                seq,
                committed: committed.into_iter().map(|c| c.node_id).collect(),
                failed,
            });
        }
        tracing::info!(
            epoch,
            dc,
            seq,
            nodes = committed.len(),
            "relocated commit placed"
        );
        Ok(PlacementReport {
            epoch,
            dc: dc.to_owned(),
            seq,
            placement_version: assignment.version,
            nodes: committed,
        })
    }
}

/// The order of chunk keys within one (epoch, dc): type, subtype (none
/// first), number; the order manifests list them in.
fn key_order(c: &PlacedChunk) -> (&str, Option<&str>, u32) {
    (&c.event_type, c.subtype.as_deref(), c.chunk)
}

/// Whether `name` can be one segment of a URL path as it is: what the
/// nodes' names allow (they check the exact rules themselves).
fn path_safe(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'))
}

/// Checks every chunk and computes its range and manifest entry, before
/// anything is sent.
fn prepare(
    epoch: u64,
    dc: &str,
    chunks: Vec<RelocatedChunk>,
) -> Result<Vec<Outgoing>, ClusterError> {
    let mut seen = BTreeSet::new();
    let mut total: u64 = 0;
    let mut out = Vec::with_capacity(chunks.len());
    for c in chunks {
        let subtype = c.subtype.as_deref().unwrap_or("-");
        let shown = format!("{epoch}/{dc}/{}/{subtype}/{}", c.event_type, c.chunk);
        let bad = |reason: String| ClusterError::BadChunk {
            chunk: shown.clone(),
            reason,
        };
        let names_ok = path_safe(dc)
            && path_safe(&c.event_type)
            && c.subtype
                .as_deref()
                .is_none_or(|s| path_safe(s) && s != "-");
        if !names_ok {
            return Err(bad(
                "its dc, type or subtype is empty or has characters no name has (see docs/STORAGE.md)".into(),
            ));
        }
        if !seen.insert((c.event_type.clone(), c.subtype.clone(), c.chunk)) {
            return Err(bad("it is given twice".into()));
        }
        let raw = epochd_codec::decompress(&c.bytes)
            .map_err(|e| bad(format!("not one zstd frame that declares its size: {e}")))?;
        total = total
            .checked_add(c.events)
            .ok_or_else(|| bad("the event counts add up past 2^64".into()))?;
        let entry = Entry {
            event_type: c.event_type.clone(),
            subtype: c.subtype.clone(),
            chunk: c.chunk,
            bytes: c.bytes.len() as u64,
            raw_bytes: raw.len() as u64,
            events: c.events,
            checksum: format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&c.bytes)),
        };
        out.push(Outgoing {
            placed: PlacedChunk {
                range: range_of(epoch, dc, &c.event_type, subtype, c.chunk),
                event_type: c.event_type,
                subtype: c.subtype,
                chunk: c.chunk,
                events: c.events,
            },
            bytes: c.bytes,
            entry,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relocator_send::{Manifest, MANIFEST_VERSION};

    fn chunk(event_type: &str, subtype: Option<&str>, chunk: u32, raw: &[u8]) -> RelocatedChunk {
        RelocatedChunk {
            event_type: event_type.into(),
            subtype: subtype.map(str::to_owned),
            chunk,
            events: 2,
            bytes: epochd_codec::compress(raw, 3),
        }
    }

    #[test]
    fn the_manifest_is_the_format_the_nodes_read() {
        let raw = b"two events, as far as the manifest knows";
        let prepared = prepare(
            1_700_000_000,
            "ams4",
            vec![
                chunk("WEB", Some("app"), 0, raw),
                chunk("WEB", None, 3, raw),
            ],
        )
        .unwrap();
        let blob = prepared[0].bytes.clone();
        let manifest = Manifest {
            version: MANIFEST_VERSION,
            epoch: 1_700_000_000,
            dc: "ams4".into(),
            seq: 2,
            events: 4,
            chunks: prepared.into_iter().map(|o| o.entry).collect(),
        };
        let json = serde_json::to_value(&manifest).unwrap();
        // The store's own type reads it (it refuses unknown fields), and
        // agrees on sizes and checksums.
        let read: epochd_store::Manifest = serde_json::from_value(json.clone()).unwrap();
        read.check().unwrap();
        assert_eq!(read.chunks[0].checksum, epochd_store::Checksum::of(&blob));
        assert_eq!(read.chunks[0].raw_bytes, raw.len() as u64);
        assert_eq!(read.chunks[0].bytes, blob.len() as u64);
        assert_eq!(read.chunks[1].subtype, None);
        assert_eq!(json["chunks"][0]["type"], "WEB");
        assert_eq!(json["chunks"][0]["checksum"].as_str().unwrap().len(), 16);
    }

    #[test]
    fn chunks_are_checked_before_anything_is_sent() {
        let raw = b"x";
        let twice = prepare(
            1,
            "ams4",
            vec![chunk("WEB", None, 0, raw), chunk("WEB", None, 0, raw)],
        );
        assert!(
            matches!(twice, Err(ClusterError::BadChunk { reason, .. }) if reason.contains("twice"))
        );
        let mut garbage = chunk("WEB", None, 0, raw);
        garbage.bytes = b"not zstd".to_vec();
        let refused = prepare(1, "ams4", vec![garbage]).unwrap_err().to_string();
        assert!(
            refused.starts_with("chunk 1/ams4/WEB/-/0: not one zstd frame"),
            "{refused}"
        );
        for (dc, t) in [("a/b", "WEB"), ("ams4", ""), ("ams4", "W?B")] {
            assert!(
                prepare(1, dc, vec![chunk(t, None, 0, raw)]).is_err(),
                "{dc} {t}"
            );
        }
    }

    #[test]
    fn each_chunk_gets_the_range_of_its_key() {
        let prepared = prepare(
            1_700_000_000,
            "ams4",
            vec![chunk("WEB", Some("app"), 0, b"x")],
        )
        .unwrap();
        assert_eq!(
            prepared[0].placed.range,
            range_of(1_700_000_000, "ams4", "WEB", "app", 0)
        );
        let none = prepare(1_700_000_000, "ams4", vec![chunk("WEB", None, 0, b"x")]).unwrap();
        assert_eq!(
            none[0].placed.range,
            range_of(1_700_000_000, "ams4", "WEB", "-", 0)
        );
    }
}
