//! The generated modules that code beside them (client methods, server
//! traits) names types from, and the `use` lines that bring those modules
//! in: the spec's own module and each extern module, by the last segment
//! of its path.

use std::collections::HashSet;

use proc_macro2::{Ident, TokenStream, TokenTree};
use quote::quote;

use crate::codegen::layout::{ModuleLayout, TypeModule};

/// The spec's own module and its extern modules, as code in a sibling
/// module names them.
pub(crate) struct TypeModules {
    own: ModulePath,
    externs: Vec<ModulePath>,
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
            .map_err(|_| format!("`{path}` is not a module path for generated code"))?;
        Ok(ModulePath { parent, name })
    }
}

impl TypeModules {
    /// The modules of `layout`, the spec's own at `types_module` (as seen
    /// from the code that names them).
    pub(crate) fn new(layout: &ModuleLayout<'_>, types_module: &str) -> Result<Self, String> {
        let externs = layout
            .options()
            .extern_modules
            .iter()
            .map(|m| ModulePath::new(&m.path))
            .collect::<Result<Vec<_>, _>>()?;
        let own = ModulePath::new(types_module)?;
        if externs.iter().any(|e| e.name == own.name) {
            return Err(format!(
                "an extern module has the name of the types' module `{}`",
                own.name
            ));
        }
        Ok(TypeModules { own, externs })
    }

    /// What a type of `module` is written after: `remote::`.
    pub(crate) fn name(&self, module: TypeModule) -> TokenStream {
        let m = match module {
            TypeModule::Own => &self.own,
            TypeModule::Extern(i) => self.externs.get(i).unwrap_or(&self.own),
        };
        let id = &m.name;
        quote!(#id::)
    }

    /// The `use` lines of the modules among `used` (identifiers of the
    /// code), grouped under their parent, extern ones first.
    pub(crate) fn uses(&self, used: &HashSet<String>) -> Result<Vec<TokenStream>, String> {
        let mut groups: Vec<(&str, Vec<&Ident>)> = Vec::new();
        for m in self.externs.iter().chain([&self.own]) {
            let Some(parent) = m.parent.as_deref() else {
                continue;
            };
            if !used.contains(&m.name.to_string()) {
                continue;
            }
            match groups.iter_mut().find(|(p, _)| *p == parent) {
                Some((_, names)) => names.push(&m.name),
                None => groups.push((parent, vec![&m.name])),
            }
        }
        groups
            .into_iter()
            .map(|(parent, names)| {
                let parent = path_tokens(parent)?;
                Ok(quote!(use #parent::{#(#names),*};))
            })
            .collect()
    }
}

/// The last `::` segment of a path.
pub(crate) fn last_segment(path: &str) -> &str {
    path.rsplit("::").next().unwrap_or(path).trim()
}

/// A path as tokens.
pub(crate) fn path_tokens(path: &str) -> Result<TokenStream, String> {
    syn::parse_str::<syn::Path>(path)
        .map(|p| quote!(#p))
        .map_err(|e| format!("`{path}` is not a path: {e}"))
}

/// Every identifier in `tokens`.
pub(crate) fn idents(tokens: &TokenStream) -> HashSet<String> {
    fn walk(tokens: &TokenStream, out: &mut HashSet<String>) {
        for t in tokens.clone() {
            match t {
                TokenTree::Ident(i) => {
                    out.insert(i.to_string());
                }
                TokenTree::Group(g) => walk(&g.stream(), out),
                _ => {}
            }
        }
    }
    let mut out = HashSet::new();
    walk(tokens, &mut out);
    out
}
