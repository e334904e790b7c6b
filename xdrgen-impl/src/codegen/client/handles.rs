//! Methods built on a client method: the same call on the handle of its
//! first argument's object, and a list of objects as a `Vec` of handles.

use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

use super::method::Signature;
use super::{Ctx, Handle};
use crate::codegen::ident;
use crate::ir::Procedure;

impl<'c> Ctx<'c> {
    /// The method on the handle of the first argument's object, if it is
    /// one: named without the object's word, it passes the handle's wire
    /// identity.
    pub(super) fn handle_method(
        &self,
        pr: &Procedure,
        sig: &Signature<'c>,
    ) -> Result<Option<(&'c Handle, TokenStream)>, String> {
        let Some(h) = sig.params.first().and_then(|p| p.object) else {
            return Ok(None);
        };
        let name = &sig.name;
        let short = name.replacen(&format!("{}_", h.word), "", 1);
        let short = ident(&if syn::parse_str::<Ident>(&short).is_ok() {
            short
        } else {
            format!("r#{short}")
        });
        let short_name = short.to_string();
        if self.config.handle_hand_written.contains(&short_name) {
            return Err(format!(
                "{}: handle method `{short}` is hand-written",
                pr.name
            ));
        }
        let method = format_ident!("{}", name);
        let args = forward(sig, Some(quote!(&self.wire)));
        let (names, tys) = kept(sig, 1);
        let ret = self.list_type(sig).unwrap_or_else(|| sig.ret_ty.clone());
        let map = list_map(sig, quote!(self.client));
        let (client, module) = (&self.config.client, &self.config.client_module);
        let doc = format!(
            " [`{client}::{name}`]({module}::{client}::{name}) on this {}.",
            h.word.replace('_', " ")
        );
        Ok(Some((
            h,
            quote! {
                #[doc = #doc]
                pub async fn #short(&self, #(#names: #tys),*) -> Result<#ret, ClientError> {
                    self.client.#method(#(#args),*).await #map
                }
            },
        )))
    }

    /// For a `connect_*` method whose reply is a list of objects (and not
    /// a handle's method), the method without `connect_` returning their
    /// handles.
    pub(super) fn client_list_method(&self, sig: &Signature<'c>) -> Option<TokenStream> {
        if sig.params.first().and_then(|p| p.object).is_some() {
            return None;
        }
        let ret = self.list_type(sig)?;
        let short = format_ident!("{}", sig.name.strip_prefix("connect_")?);
        let method = format_ident!("{}", sig.name);
        let args = forward(sig, None);
        let (names, tys) = kept(sig, 0);
        let map = list_map(sig, quote!(self));
        let doc = format!(
            " [`{}::{}`] as a list of handles.",
            self.config.client, sig.name
        );
        Some(quote! {
            #[doc = #doc]
            pub async fn #short(&self, #(#names: #tys),*) -> Result<#ret, ClientError> {
                self.#method(#(#args),*).await #map
            }
        })
    }

    /// `Vec<Handle>` for a reply that lists objects.
    fn list_type(&self, sig: &Signature<'c>) -> Option<TokenStream> {
        sig.reply.list_of.as_ref().map(|(h, _)| {
            let t = format_ident!("{}", h.rust);
            quote!(Vec<#t>)
        })
    }
}

/// The arguments a forwarding method passes: `first` for the first
/// parameter when given, 1 for `need_results` of a list, the parameters
/// themselves otherwise.
fn forward(sig: &Signature<'_>, first: Option<TokenStream>) -> Vec<TokenStream> {
    let list = sig.reply.list_of.is_some();
    sig.params
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let n = &p.name;
            match &first {
                Some(f) if i == 0 => f.clone(),
                _ if list && n == "need_results" => quote!(1),
                _ => quote!(#n),
            }
        })
        .collect()
}

/// The names and types of the parameters a forwarding method keeps, from
/// index `from` (a list's `need_results` left out).
fn kept<'s>(sig: &'s Signature<'_>, from: usize) -> (Vec<&'s Ident>, Vec<&'s TokenStream>) {
    let list = sig.reply.list_of.is_some();
    sig.params[from..]
        .iter()
        .filter(|p| !(list && p.name == "need_results"))
        .map(|p| (&p.name, &p.ty))
        .unzip()
}

/// Turns a listing reply into handles on the client `client` names.
fn list_map(sig: &Signature<'_>, client: TokenStream) -> TokenStream {
    match &sig.reply.list_of {
        Some((h, field)) => {
            let t = format_ident!("{}", h.rust);
            quote!(.map(|r| r.#field.into_iter().map(|w| #t::from_wire(#client.clone(), w)).collect()))
        }
        None => quote!(),
    }
}
