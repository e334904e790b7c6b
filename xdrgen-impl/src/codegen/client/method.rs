//! One procedure's method on the client type: its parameters, body
//! (`call`, `call_stream` or `call_fds`), return value and documentation.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::params::Param;
use super::reply::{Counted, Reply};
use super::{Ctx, Handle};
use crate::codegen::naming::Namespace;
use crate::ir::{Procedure, StreamDirection};

/// A procedure's methods.
pub(super) struct MethodOut<'c> {
    /// On the client type, with the wire types.
    pub raw: TokenStream,
    /// On the handle of the first argument's object.
    pub handle: Option<(&'c Handle, TokenStream)>,
    /// On the client type, a list of handles (`list_all_domains`).
    pub client_extra: Option<TokenStream>,
}

/// What a generated method has, for the forwarding methods built on it.
pub(super) struct Signature<'c> {
    /// The method's name.
    pub name: String,
    pub params: Vec<Param<'c>>,
    /// The return type (inside `Result<_, ClientError>`).
    pub ret_ty: TokenStream,
    pub reply: Reply<'c>,
}

impl<'c> Ctx<'c> {
    /// The methods of procedure `pr`, whose marker is `marker`, named
    /// `name` on the client; `count_from`: the procedure (and its marker)
    /// whose reply gives the count argument named (see
    /// [`ClientConfig::count_from`](super::ClientConfig::count_from)).
    pub(super) fn method(
        &self,
        pr: &Procedure,
        marker: &str,
        name: &str,
        count_from: Option<(&Procedure, &str, &str)>,
    ) -> Result<MethodOut<'c>, String> {
        let marker_id = format_ident!("{}", marker);
        let marker = quote!(procs::#marker_id);
        let method = format_ident!("{}", name);
        let stream = pr.annotations.stream;
        let fds = self.config.fds.get(&pr.name).copied().unwrap_or_default();
        let (fds_in, fds_out) = (fds.send, fds.receive);
        if !self.config.streams_and_fds && (stream.is_some() || fds_in || fds_out) {
            return Err(format!(
                "{}: the client `{}` has no streams or descriptors",
                pr.name, self.config.client
            ));
        }
        if stream.is_some() && (fds_in || fds_out) {
            return Err(format!("{}: a stream and descriptors at once", pr.name));
        }

        let (mut params, args_value) = self.params(pr, self.config.flag_args.get(&pr.name))?;
        let fds_param = fds_in.then(|| {
            let taken: Vec<String> = params.iter().map(|p| p.name.to_string()).collect();
            let taken: Vec<&str> = taken.iter().map(String::as_str).collect();
            let name = format_ident!(
                "{}",
                Namespace::with_reserved(&taken).claim(&["fds".to_owned()])
            );
            params.push(Param {
                object: None,
                ty: quote!(Vec<OwnedFd>),
                value: quote!(#name),
                name: name.clone(),
            });
            name
        });
        let reply = self.reply(pr, name)?;
        if let Some(c) = &reply.counted {
            // Asked for by count: the caller gives none.
            params.retain(|p| p.name != c.arg);
        }
        let count_let = match count_from {
            Some((source, source_marker, count)) => {
                let source_args = self.count_source_args(pr, source, &params)?;
                params.retain(|p| p.name != count);
                let source_marker = format_ident!("{}", source_marker);
                let count = format_ident!("{}", count);
                quote! {
                    // The count first, from another call.
                    let count_args = #source_args;
                    let #count = self.call::<procs::#source_marker>(&count_args).await?.#count;
                }
            }
            None => quote!(),
        };

        // What the method returns: the reply (unless void), the stream, the
        // descriptors; one of them alone, or a tuple.
        let mut ret_types = Vec::new();
        let mut ret_values = Vec::new();
        let mut returns = Vec::new();
        if let Some(ty) = &reply.ty {
            ret_types.push(ty.clone());
            ret_values.push(match &reply.map {
                Some(m) => m(quote!(ret)),
                None => quote!(ret),
            });
            returns.push(match &reply.field {
                Some(f) => format!("the reply's `{f}`"),
                None => "the reply".to_owned(),
            });
        }
        if let Some(s) = stream {
            ret_types.push(quote!(ByteStream));
            ret_values.push(quote!(stream));
            let what = self.config.stream_contents.get(&pr.name);
            let (annotation, how, fallback) = match s.direction {
                StreamDirection::Read => ("@readstream", "to read", "the daemon's data"),
                StreamDirection::Write => ("@writestream", "to write", "data for the daemon"),
            };
            returns.push(format!(
                "a [`ByteStream`] {how} (`{annotation}`) carrying {}",
                what.map_or(fallback, String::as_str)
            ));
        }
        if fds_out {
            ret_types.push(quote!(Vec<OwnedFd>));
            ret_values.push(quote!(fds));
            returns.push("the descriptors the daemon sent (Unix transport)".to_owned());
        }
        let ret_ty = match ret_types.as_slice() {
            [] => quote!(()),
            [one] => one.clone(),
            many => quote!((#(#many),*)),
        };
        let ret_value = match ret_values.as_slice() {
            [one] => one.clone(),
            many => quote!((#(#many),*)),
        };

        let (args_let, args_ref) = if pr.args.is_empty() || reply.counted.is_some() {
            (quote!(), quote!(&()))
        } else {
            (quote!(let args = #args_value;), quote!(&args))
        };
        let ret_pat = if reply.ty.is_some() {
            quote!(ret)
        } else {
            quote!(())
        };
        let body = if stream.is_some() {
            quote! {
                let (#ret_pat, stream) = self.call_stream::<#marker>(#args_ref).await?;
                Ok(#ret_value)
            }
        } else if fds_in || fds_out {
            let fds = match &fds_param {
                Some(p) => quote!(#p),
                None => quote!(Vec::new()),
            };
            let fds_pat = if fds_out { quote!(fds) } else { quote!(_) };
            quote! {
                let (#ret_pat, #fds_pat) = self.call_fds::<#marker>(#args_ref, #fds).await?;
                Ok(#ret_value)
            }
        } else if let Some(c) = &reply.counted {
            let first = reply
                .map
                .as_ref()
                .map(|m| m(quote!(ret)))
                .unwrap_or_default();
            let second = reply.map.as_ref().map(|m| m(quote!(r))).unwrap_or_default();
            let Counted {
                list,
                count,
                arg,
                convert,
            } = c;
            let asked = if *convert {
                quote!(#count.try_into().unwrap_or_default())
            } else {
                quote!(#count)
            };
            quote! {
                // The first call gives the count, and the values too when
                // the daemon sends them all at once.
                let #arg = 0;
                let mut args = #args_value;
                let ret = self.call::<#marker>(&args).await?;
                if ret.#list.len() >= usize::try_from(ret.#count).unwrap_or(0) {
                    return Ok(#first);
                }
                args.#arg = ret.#asked;
                self.call::<#marker>(&args).await.map(|r| #second)
            }
        } else {
            match &reply.map {
                Some(m) => {
                    let m = m(quote!(r));
                    quote!(self.call::<#marker>(#args_ref).await.map(|r| #m))
                }
                None => quote!(self.call::<#marker>(#args_ref).await),
            }
        };

        let mut docs = vec![format!(
            "Calls [`{}`]({}) (procedure {}).",
            pr.name,
            marker.to_string().replace(' ', ""),
            pr.number
        )];
        // A whole reply alone needs no words: the signature says it.
        if !(returns.len() == 1 && reply.ty.is_some() && reply.field.is_none()) {
            if let Some((last, init)) = returns.split_last() {
                let list = if init.is_empty() {
                    last.clone()
                } else {
                    format!("{} and {last}", init.join(", "))
                };
                docs.push(String::new());
                docs.push(format!("Returns {list}."));
            }
        }
        if let Some((source, source_marker, count)) = count_from {
            docs.push(String::new());
            docs.push(format!(
                "`{count}` is asked for first, with [`{}`](procs::{source_marker}).",
                source.name
            ));
        }
        if let Some(p) = &fds_param {
            docs.push(String::new());
            docs.push(format!(
                "`{p}` go to the daemon with the call (Unix transport)."
            ));
        }
        let docs = docs.iter().map(|d| {
            let d = if d.is_empty() {
                String::new()
            } else {
                format!(" {d}")
            };
            quote!(#[doc = #d])
        });
        let names = params.iter().map(|p| &p.name);
        let tys = params.iter().map(|p| &p.ty);
        let raw = quote! {
            #(#docs)*
            pub async fn #method(&self, #(#names: #tys),*) -> Result<#ret_ty, ClientError> {
                #count_let
                #args_let
                #body
            }
        };

        let sig = Signature {
            name: name.to_owned(),
            params,
            ret_ty,
            reply,
        };
        Ok(MethodOut {
            raw,
            handle: self.handle_method(pr, &sig)?,
            client_extra: self.client_list_method(&sig),
        })
    }
}

impl Ctx<'_> {
    /// The arguments of `source`, the procedure giving `pr`'s count, made
    /// from `pr`'s parameters of the same names.
    fn count_source_args(
        &self,
        pr: &Procedure,
        source: &Procedure,
        params: &[Param<'_>],
    ) -> Result<TokenStream, String> {
        let [args] = source.args.as_slice() else {
            return Ok(quote!(()));
        };
        let (path, fields) = self.struct_fields(args)?.ok_or(format!(
            "{}: the arguments of {} are not a struct",
            pr.name, source.name
        ))?;
        let inits = fields
            .iter()
            .map(|(field, _, kept)| {
                let p = params
                    .iter()
                    .find(|p| p.name == field.trim_start_matches("r#"))
                    .ok_or(format!(
                        "{}: no argument `{field}` to give {}",
                        pr.name, source.name
                    ))?;
                let id = crate::codegen::ident(field);
                let value = self.kept(kept, p.value.clone());
                Ok(quote!(#id: #value))
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(quote!(#path { #(#inits),* }))
    }
}
