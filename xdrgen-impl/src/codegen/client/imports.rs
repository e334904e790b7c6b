//! The modules the methods refer to, and the `use` lines that bring in
//! what they use (and only that).

use std::collections::HashSet;

use proc_macro2::{Ident, TokenStream, TokenTree};
use quote::{format_ident, quote};

use super::ClientConfig;
use crate::codegen::layout::{ModuleLayout, TypeModule};

/// The generated modules types come from, as the methods name them: the
/// spec's own and each extern module, by the last segment of its path.
pub(super) struct Modules {
    own: ModulePath,
    externs: Vec<ModulePath>,
    /// The path of the spec's own module.
    types_module: String,
    client_module: String,
    client: String,
    handles: Vec<String>,
    flag_module: String,
    typed_params: Option<String>,
}

/// A module's path split for a `use` line: `super::remote` is `remote`
/// under `super`.
struct ModulePath {
    parent: Option<String>,
    name: Ident,
}

impl ModulePath {
    fn new(path: &str) -> Result<ModulePath, String> {
        let path = path.trim();
        let (parent, name) = match path.rsplit_once("::") {
            Some((p, n)) => (Some(p.trim().to_owned()), n.trim()),
            None => (None, path),
        };
        let name = syn::parse_str::<Ident>(name)
            .map_err(|_| format!("`{path}` is not a module path for client methods"))?;
        Ok(ModulePath { parent, name })
    }
}

/// The last `::` segment of a path.
pub(super) fn last_segment(path: &str) -> &str {
    path.rsplit("::").next().unwrap_or(path).trim()
}

/// A path as tokens.
fn path_tokens(path: &str) -> Result<TokenStream, String> {
    syn::parse_str::<syn::Path>(path)
        .map(|p| quote!(#p))
        .map_err(|e| format!("`{path}` is not a path: {e}"))
}

impl Modules {
    pub(super) fn new(layout: &ModuleLayout<'_>, config: &ClientConfig) -> Result<Self, String> {
        let externs = layout
            .options()
            .extern_modules
            .iter()
            .map(|m| ModulePath::new(&m.path))
            .collect::<Result<Vec<_>, _>>()?;
        let own = ModulePath::new(&config.types_module)?;
        if externs.iter().any(|e| e.name == own.name) {
            return Err(format!(
                "an extern module has the name of the types' module `{}`",
                own.name
            ));
        }
        Ok(Modules {
            own,
            externs,
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
        let m = match module {
            TypeModule::Own => &self.own,
            TypeModule::Extern(i) => self.externs.get(i).unwrap_or(&self.own),
        };
        let id = &m.name;
        quote!(#id::)
    }

    /// The `use` lines for what `code` names: the procedure markers (in
    /// `procs_path` under the types' module), the generated modules (extern
    /// ones first), the client module's items, the flag-set module, the
    /// typed-parameter type and `OwnedFd`.
    pub(super) fn uses(&self, code: &TokenStream, procs_path: &str) -> Result<TokenStream, String> {
        let mut used = HashSet::new();
        idents(code, &mut used);
        let uses = |name: &str| used.contains(name);

        let mut lines = Vec::new();
        if uses("procs") {
            let procs = path_tokens(&format!("{}::{procs_path}", self.types_module))?;
            lines.push(quote!(use #procs;));
        }

        // The generated modules, grouped under their parent.
        let mut groups: Vec<(&str, Vec<&Ident>)> = Vec::new();
        for m in self.externs.iter().chain([&self.own]) {
            let Some(parent) = m.parent.as_deref() else {
                continue;
            };
            if !uses(&m.name.to_string()) {
                continue;
            }
            match groups.iter_mut().find(|(p, _)| *p == parent) {
                Some((_, names)) => names.push(&m.name),
                None => groups.push((parent, vec![&m.name])),
            }
        }
        for (parent, names) in groups {
            let parent = path_tokens(parent)?;
            lines.push(quote!(use #parent::{#(#names),*};));
        }

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

/// Every identifier in `tokens`.
fn idents(tokens: &TokenStream, out: &mut HashSet<String>) {
    for t in tokens.clone() {
        match t {
            TokenTree::Ident(i) => {
                out.insert(i.to_string());
            }
            TokenTree::Group(g) => idents(&g.stream(), out),
            _ => {}
        }
    }
}
