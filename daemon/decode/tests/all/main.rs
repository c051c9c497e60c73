//! Tests of the decoder: every event comes back from the columns.

mod roundtrip;
mod schema;
mod support;
