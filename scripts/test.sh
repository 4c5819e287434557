#!/usr/bin/env bash
# The test command: build the Lambda functions once, install the local emulator (MiniStack)
# once, then run every test of the workspace.
#
# The functions are built here, before `cargo test`, because a `cargo build` started from
# inside a test would wait forever on the target-dir lock that `cargo test` holds. The
# integration tests deploy them with `up --prebuilt <target>/lambda`.
#
# Extra arguments go to `cargo test` (e.g. `./scripts/test.sh --test local`); without any,
# tests/dev.rs runs last, outside `cargo test` (see below).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

timings=()
step_start=0
step_name=""

begin() {
    step_name=$1
    step_start=$SECONDS
    printf '\n==> %s\n' "$step_name" >&2
}

end() {
    timings+=("$(printf '%5ds  %s' $((SECONDS - step_start)) "$step_name")")
    step_name=""
}

summary() {
    local status=$?
    if [[ -n $step_name ]]; then
        timings+=("$(printf '%5ds  %s (FAILED)' $((SECONDS - step_start)) "$step_name")")
    fi
    printf '\n==> summary\n' >&2
    printf '%s\n' "${timings[@]}" >&2
    printf '%5ds  total\n' "$SECONDS" >&2
    if ((status == 0)); then
        echo "all tests passed" >&2
    else
        echo "FAILED (exit status $status)" >&2
    fi
}
trap summary EXIT

command -v cargo >/dev/null || {
    echo "cargo not found: install Rust (https://rustup.rs)" >&2
    exit 1
}

begin "build functions (cargo build --profile lambda)"
# Every function crate under functions/ (the binaries; order-domain is their library).
cargo build --profile lambda --workspace --exclude orderflow --bins
end

begin "install the local emulator (MiniStack)"
cargo run -q --bin orderflow -- local install
end

begin "cargo test --workspace"
cargo test --workspace --no-fail-fast "$@"
end

# `orderflow dev` runs cargo itself, which would wait forever on the lock `cargo test` holds:
# its test is ignored there and run here, directly, once the suite is done.
if (($# == 0)); then
    begin "orderflow dev (tests/dev.rs, outside cargo test)"
    # The artifact of the `dev` test target (the build also lists the orderflow binary).
    dev_test=$(cargo test --test dev --no-run --message-format=json 2>/dev/null |
        grep '"kind":\["test"\]' | grep '"name":"dev"' |
        sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)
    [[ -x $dev_test ]] || {
        echo "could not find the test binary of tests/dev.rs" >&2
        exit 1
    }
    "$dev_test" --ignored
    end
fi
