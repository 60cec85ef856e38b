//! The generic OpenAI-compatible dialect: the request as `client` builds it, no server stats.

use super::{Dialect, DialectOptions};

pub struct OpenAi {
    pub options: DialectOptions,
}

impl Dialect for OpenAi {
    fn options(&self) -> &DialectOptions {
        &self.options
    }
}
