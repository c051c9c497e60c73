//! Job results, from the moment a run ends to the subscriber: stored
//! (`store`, with its own retention), merged per epoch with the job's
//! `merge` (`merge`), rendered once as the JSON every reader gets, byte
//! for byte what the job emitted (`render`, cached by `render_cache`),
//! streamed per epoch in epoch order (`streams`), and summarised in the
//! node's log (`log`).

pub mod log;
mod merge;
mod record;
pub mod render;
mod render_cache;
mod retention;
mod store;
pub mod streams;

pub use merge::merge_epoch;
pub use record::{JobLog, Outcome, ResultRecord};
pub use retention::Sweeper;
pub use store::{Results, ResultsError};
pub use streams::{EventKind, RenderStats, StreamEvent, Streams, StreamsConfig, Subscription};
