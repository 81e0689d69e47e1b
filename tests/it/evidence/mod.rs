//! Evidence of a run: the quality gates over a recorded MetaGPT run (`gates`) and what is rendered from
//! it (`render`).

mod support;

mod gates;
mod render;
