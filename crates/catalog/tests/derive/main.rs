//! The derives from outside the catalogue, as a service uses them: families built on an SDK
//! meter provider (runtime.rs), and the declarations that must not compile, each with the
//! error it gets and where it points (fail/*.rs and their .stderr, written by trybuild:
//! `TRYBUILD=overwrite cargo test -p alys-telemetry-catalog --test derive` after a change to
//! the messages, then read them).

mod runtime;

#[test]
fn declarations_compile_or_fail_where_the_mistake_is() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/derive/pass/*.rs");
    cases.compile_fail("tests/derive/fail/*.rs");
}
