//! One declaration per route: its method, its path, its handler and who may call it, written
//! once. [`declare_routes!`] turns a module's list into the module's axum router and its table
//! of [`Rule`]s, so the key check ([`super::access`]) and the router can never disagree on a
//! path, and a route cannot be added without saying who may call it.

/// `declare_routes! { RULES, routes; GET "/ops/x/{id}" => handler: Viewer, ONE; ... }` declares
/// `pub const RULES: &[Rule]` and `pub fn routes() -> Router<Arc<Deps>>`. A line's role is a
/// [`wxopen::operator_auth::Role`] (`Viewer`, `Op`, `Admin`, `Service`), its reach `ONE` (one
/// customer's data) or `ALL` (spans every customer, [`super::access::Reach`]); a trailing
/// `layer EXPR` wraps that one method's handler (a body limit). Several lines may share a path:
/// axum merges their methods.
macro_rules! declare_routes {
    (
        $rules:ident, $router:ident;
        $( $method:ident $path:literal => $handler:path : $role:ident, $reach:ident
           $(, layer $layer:expr)? ; )*
    ) => {
        #[rustfmt::skip]
        pub const $rules: &[$crate::http::access::Rule] = &[
            $( $crate::http::access::Rule {
                method: stringify!($method),
                route: $path,
                role: $crate::http::routes::prelude::$role,
                reach: $crate::http::routes::prelude::$reach,
            }, )*
        ];

        pub fn $router() -> ::axum::Router<::std::sync::Arc<$crate::Deps>> {
            ::axum::Router::new()
                $( .route(
                    $path,
                    ::axum::routing::on(::axum::routing::MethodFilter::$method, $handler)
                        $(.layer($layer))?,
                ) )*
        }
    };
}
pub(crate) use declare_routes;

/// The short names a declaration's lines use.
pub mod prelude {
    pub use crate::http::access::Reach::{AllCustomers as ALL, PerCustomer as ONE};
    pub use wxopen::operator_auth::Role::{Admin, Operator as Op, Service, Viewer};
}
