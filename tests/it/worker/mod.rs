//! Workers over a real SQLite queue with a scripted handler: what an operator sees when a job is stopped
//! (through the control loop), fails for a while, waits behind another run of its issue, or is running
//! when the process shuts down. The bench is in `worker/harness.rs`, the scenarios in `worker/`.

mod harness;

mod runs;
mod shutdown;
mod stops;
