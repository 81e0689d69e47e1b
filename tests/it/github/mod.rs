//! The GitHub client with the real octocrab against the fake GitHub: the App and its installations
//! (`app`), and the typed operations (`ops`).

mod app;
mod ops;
