//! Workers over a real SQLite queue with a scripted handler: what an operator sees when a job is stopped
//! (through the control loop), fails for a while, waits behind another run of its issue, or is running
//! when the process shuts down. The bench is in `worker/harness.rs`, the scenarios in `worker/`.

#[path = "worker/harness.rs"]
mod harness;

#[path = "worker/runs.rs"]
mod runs;
#[path = "worker/shutdown.rs"]
mod shutdown;
#[path = "worker/stops.rs"]
mod stops;
