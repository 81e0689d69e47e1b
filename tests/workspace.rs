//! The git workspace on real git: bare repositories served over smart HTTP by `git http-backend` on
//! 127.0.0.1 (with a token) and over file://.

#[path = "support/git_server.rs"]
mod git_server;

#[path = "workspace/fixture.rs"]
mod fixture;

#[path = "workspace/branch.rs"]
mod branch;
#[path = "workspace/clone.rs"]
mod clone;
#[path = "workspace/commit.rs"]
mod commit;
#[path = "workspace/preflight.rs"]
mod preflight;
#[path = "workspace/protected.rs"]
mod protected;
#[path = "workspace/push.rs"]
mod push;
#[path = "workspace/reset.rs"]
mod reset;
#[path = "workspace/write.rs"]
mod write;
