//! The generic OpenAI-compatible dialect: the request as `client` builds it, no server stats.

use super::Dialect;

pub struct OpenAi;

impl Dialect for OpenAi {}
