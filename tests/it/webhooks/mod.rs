//! Webhook intake over the real router and a real SQLite queue: endpoints, what starts a job, what is
//! ignored, what is refused, and random bodies.

mod endpoints;
mod fuzz;
mod ignored;
mod refusals;
mod triggers;
