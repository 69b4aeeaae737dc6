# syntax=docker/dockerfile:1
# The alys-telemetry command (demo node, governance node) of the alys-node package, built
# once and run as non-root. node/tests/stack_image.rs replays this file step by step on every
# test run (README, "The image"), so a step that `docker build` would fail fails there.

# cargo-chef turns the workspace into a recipe (its manifests and lock file, with a stub for
# every target of every member) and builds the dependencies from it: no hand-kept list of
# targets, so a new bench, test binary or crate cannot break this stage.
FROM rust:1.95-slim-bookworm AS chef
RUN cargo install cargo-chef --locked --version 0.1.78
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS build
# The dependencies' layer. Its only input is the recipe, which changes when a manifest or the
# lock file does: a change under src/ reuses it from the cache.
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked --recipe-path recipe.json --package alys-node --bin alys-telemetry
COPY . .
RUN cargo build --release --locked --package alys-node --bin alys-telemetry

# glibc and libgcc_s, nothing else (the replay checks the binary needs no other library);
# runs as uid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/alys-telemetry /usr/local/bin/alys-telemetry
USER nonroot
EXPOSE 9001 50051
ENTRYPOINT ["/usr/local/bin/alys-telemetry"]
CMD ["demo", "--listen", "0.0.0.0:9001"]
