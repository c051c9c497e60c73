//! The `#[job]` and `#[merge]` attributes of the epochd job SDK.
//!
//! Use them through `epochd-job` (`#[epochd_job::job]`,
//! `#[epochd_job::merge]`), whose documentation describes them. Each leaves
//! the annotated function as it is, so it still builds and unit-tests
//! natively, and adds:
//! - on `wasm32` only, the exports of ABI v1 that call it
//!   (`epochd_abi_version` and `epochd_run`, or `epochd_merge`);
//! - on every target, a type check of its signature against the SDK's
//!   traits, so a wrong argument or result type is an error on a native
//!   build too, with a message naming what is expected.
//!
//! Misuse that can be seen in the syntax (arguments to the attribute, a
//! method, generics, `async`, the wrong number of parameters, no return
//! type) is a compile error pointing at the offending part.
#![deny(missing_docs)]

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, Item, ItemFn, ReturnType};

/// Marks the function a job runs once per commit of (epoch, dc):
/// `fn run(epoch: &Epoch) -> Result<impl IntoOutput, JobError>`.
///
/// See `epochd_job::job` for the full description.
#[proc_macro_attribute]
pub fn job(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand(Entry::Job, attr.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Marks the function that combines two results of a job into one:
/// `fn merge(a: &[u8], b: &[u8]) -> Result<impl IntoOutput, JobError>`.
///
/// See `epochd_job::merge` for the full description.
#[proc_macro_attribute]
pub fn merge(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand(Entry::Merge, attr.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

#[derive(Clone, Copy)]
enum Entry {
    Job,
    Merge,
}

impl Entry {
    fn attribute(self) -> &'static str {
        match self {
            Entry::Job => "#[epochd_job::job]",
            Entry::Merge => "#[epochd_job::merge]",
        }
    }

    fn shape(self) -> &'static str {
        match self {
            Entry::Job => "fn run(epoch: &Epoch) -> Result<impl IntoOutput, JobError>",
            Entry::Merge => "fn merge(a: &[u8], b: &[u8]) -> Result<impl IntoOutput, JobError>",
        }
    }

    fn arity(self) -> usize {
        match self {
            Entry::Job => 1,
            Entry::Merge => 2,
        }
    }

    fn parameters(self) -> &'static str {
        match self {
            Entry::Job => "one parameter, the epoch (`epoch: &Epoch`)",
            Entry::Merge => "two parameters, the two results (`a: &[u8], b: &[u8]`)",
        }
    }
}

fn expand(entry: Entry, attr: TokenStream2, item: TokenStream2) -> syn::Result<TokenStream2> {
    let attribute = entry.attribute();
    let shape = entry.shape();
    if !attr.is_empty() {
        return Err(syn::Error::new_spanned(
            attr,
            format!("`{attribute}` takes no arguments"),
        ));
    }
    let func = match syn::parse2::<Item>(item.clone()) {
        Ok(Item::Fn(func)) => func,
        _ => {
            return Err(syn::Error::new(
                first_span(&item),
                format!("`{attribute}` goes on a free function: `{shape}`"),
            ))
        }
    };
    check_signature(entry, &func)?;
    let name = &func.sig.ident;
    let span = func.sig.ident.span();
    let glue = match entry {
        Entry::Job => quote_spanned! {span=>
            #[cfg(target_arch = "wasm32")]
            #[doc(hidden)]
            #[allow(unsafe_code)]
            #[unsafe(no_mangle)]
            pub extern "C" fn epochd_abi_version() -> i32 {
                ::epochd_job::__private::ABI_VERSION
            }

            #[cfg(target_arch = "wasm32")]
            #[doc(hidden)]
            #[allow(unsafe_code)]
            #[unsafe(no_mangle)]
            pub extern "C" fn epochd_run() -> i32 {
                ::epochd_job::__private::run(#name)
            }
        },
        Entry::Merge => quote_spanned! {span=>
            #[cfg(target_arch = "wasm32")]
            #[doc(hidden)]
            #[allow(unsafe_code)]
            #[unsafe(no_mangle)]
            pub extern "C" fn epochd_merge() -> i32 {
                ::epochd_job::__private::merge(#name)
            }
        },
    };
    let check = match entry {
        Entry::Job => quote_spanned! {span=>
            #[doc(hidden)]
            const _: fn() = || ::epochd_job::__private::assert_job(#name);
        },
        Entry::Merge => quote_spanned! {span=>
            #[doc(hidden)]
            const _: fn() = || ::epochd_job::__private::assert_merge(#name);
        },
    };
    Ok(quote! {
        #func
        #glue
        #check
    })
}

fn check_signature(entry: Entry, func: &ItemFn) -> syn::Result<()> {
    let attribute = entry.attribute();
    let shape = entry.shape();
    let sig = &func.sig;
    if let Some(token) = &sig.constness {
        return Err(syn::Error::new_spanned(
            token,
            format!("`{attribute}` does not go on a `const fn`: `{shape}`"),
        ));
    }
    if let Some(token) = &sig.asyncness {
        return Err(syn::Error::new_spanned(
            token,
            format!("`{attribute}` does not go on an `async fn`: a job runs to completion, synchronously: `{shape}`"),
        ));
    }
    if let Some(token) = &sig.unsafety {
        return Err(syn::Error::new_spanned(
            token,
            format!("`{attribute}` does not go on an `unsafe fn`: the host calls it with no precondition to uphold"),
        ));
    }
    if let Some(abi) = &sig.abi {
        return Err(syn::Error::new_spanned(
            abi,
            format!("`{attribute}` writes the `extern \"C\"` export itself: declare a plain Rust function: `{shape}`"),
        ));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        return Err(syn::Error::new_spanned(
            &sig.generics,
            format!("`{attribute}` does not go on a generic function: `{shape}`"),
        ));
    }
    if let Some(variadic) = &sig.variadic {
        return Err(syn::Error::new_spanned(
            variadic,
            format!("`{attribute}` does not go on a variadic function: `{shape}`"),
        ));
    }
    if let Some(FnArg::Receiver(receiver)) = sig.inputs.first() {
        return Err(syn::Error::new_spanned(
            receiver,
            format!("`{attribute}` goes on a free function, not a method: `{shape}`"),
        ));
    }
    if sig.inputs.len() != entry.arity() {
        let span = if sig.inputs.is_empty() {
            sig.paren_token.span.join()
        } else {
            sig.inputs.span()
        };
        return Err(syn::Error::new(
            span,
            format!(
                "`{attribute}` goes on a function of {}: `{shape}`",
                entry.parameters()
            ),
        ));
    }
    if let ReturnType::Default = sig.output {
        return Err(syn::Error::new_spanned(
            sig,
            format!("`{attribute}` needs a function that returns its result: `{shape}` (return `Ok(())` for an empty result)"),
        ));
    }
    Ok(())
}

fn first_span(tokens: &TokenStream2) -> Span {
    tokens
        .clone()
        .into_iter()
        .next()
        .map_or_else(Span::call_site, |t| t.span())
}
