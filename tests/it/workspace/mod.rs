//! The git workspace on real git: bare repositories served over smart HTTP by `git http-backend` on
//! 127.0.0.1 (with a token) and over file://.

mod fixture;

mod branch;
mod clone;
mod commit;
mod preflight;
mod protected;
mod push;
mod reset;
mod write;
