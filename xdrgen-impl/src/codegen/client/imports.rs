//! The modules the methods refer to, and the `use` lines that bring in
//! what they use (and only that).

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::ClientConfig;
use crate::codegen::layout::{ModuleLayout, TypeModule};
pub(super) use crate::codegen::modules::last_segment;
use crate::codegen::modules::{idents, path_tokens, TypeModules};

/// The generated modules types come from, and the client's own modules.
pub(super) struct Modules {
    types: TypeModules,
    /// The path of the spec's own module.
    types_module: String,
    client_module: String,
    client: String,
    handles: Vec<String>,
    flag_module: String,
    typed_params: Option<String>,
}

impl Modules {
    pub(super) fn new(layout: &ModuleLayout<'_>, config: &ClientConfig) -> Result<Self, String> {
        Ok(Modules {
            types: TypeModules::new(layout, &config.types_module)?,
            types_module: config.types_module.clone(),
            client_module: config.client_module.clone(),
            client: config.client.clone(),
            handles: config.handles.iter().map(|h| h.rust.clone()).collect(),
            flag_module: config.flag_module.clone(),
            typed_params: config.typed_params.as_ref().map(|t| t.path.clone()),
        })
    }

    /// What a type of `module` is written after: `remote::`.
    pub(super) fn name(&self, module: TypeModule) -> TokenStream {
        self.types.name(module)
    }

    /// The `use` lines for what `code` names: the procedure markers (in
    /// `procs_path` under the types' module), the generated modules (extern
    /// ones first), the client module's items, the flag-set module, the
    /// typed-parameter type and `OwnedFd`.
    pub(super) fn uses(&self, code: &TokenStream, procs_path: &str) -> Result<TokenStream, String> {
        let used = idents(code);
        let uses = |name: &str| used.contains(name);

        let mut lines = Vec::new();
        if uses("procs") {
            let procs = path_tokens(&format!("{}::{procs_path}", self.types_module))?;
            lines.push(quote!(use #procs;));
        }
        lines.extend(self.types.uses(&used)?);

        let client_module = path_tokens(&self.client_module)?;
        let mut items = Vec::new();
        // The event trait and families are named by typed events only.
        let own = [
            self.client.as_str(),
            "ClientError",
            "ByteStream",
            "Event",
            "EventFamily",
        ];
        for item in own
            .into_iter()
            .chain(self.handles.iter().map(String::as_str))
        {
            if uses(item) {
                items.push(format_ident!("{}", item));
            }
        }
        if !items.is_empty() {
            lines.push(quote!(use #client_module::{#(#items),*};));
        }

        if !self.flag_module.is_empty() && uses(last_segment(&self.flag_module)) {
            let m = path_tokens(&self.flag_module)?;
            lines.push(quote!(use #m;));
        }
        if let Some(tp) = &self.typed_params {
            if uses(last_segment(tp)) {
                let p = path_tokens(tp)?;
                lines.push(quote!(use #p;));
            }
        }
        if uses("OwnedFd") {
            lines.push(quote!(
                use std::os::fd::OwnedFd;
            ));
        }
        Ok(quote!(#(#lines)*))
    }
}
