#!/usr/bin/env bash
# Lints the migrations a pull request adds or changes: GitHub annotations on
# standard output, a SARIF file for code scanning, a job summary. The GitHub
# Action (action.yml) runs it; it runs the same way on a laptop:
#
#   MIGRATE_PATHS=migrations MIGRATE_BASE_REF=origin/main scripts/ci-lint.sh
#
# Inputs, all optional, come from the environment:
#   MIGRATE_BIN         the migrate binary (default: migrate on PATH)
#   MIGRATE_PATHS       files/directories to lint, whitespace-separated
#                       (default: none, i.e. the changed .sql files alone)
#   MIGRATE_BASE_REF    git ref to diff against (merge-base semantics); empty
#                       or all zeros lints everything under MIGRATE_PATHS
#   MIGRATE_FAIL_ON     error | warning | info (default: lint's own, error)
#   MIGRATE_PG_VERSION  PostgreSQL major version of production
#   MIGRATE_CONFIG      configuration file (default: .migrate.toml lookup)
#   MIGRATE_ARGS        more lint flags, whitespace-separated
#   MIGRATE_SARIF       SARIF output path (default: migrate.sarif; "" skips it)
#   MIGRATE_DEFER_EXIT  "true": exit 0 and leave lint's status in the
#                       exit-code output, so that later steps (the SARIF
#                       upload) still run; the caller exits with it
#   GITHUB_OUTPUT, GITHUB_STEP_SUMMARY   set by the Actions runner
#
# Exit status: lint's (0 clean, 1 findings at or above fail-on, 2 could
# not lint), unless MIGRATE_DEFER_EXIT=true.
set -uo pipefail

bin=${MIGRATE_BIN:-migrate}
base=${MIGRATE_BASE_REF:-}
sarif=${MIGRATE_SARIF-migrate.sarif}
read -r -a paths <<<"${MIGRATE_PATHS:-}"
read -r -a extra <<<"${MIGRATE_ARGS:-}"

say() { printf 'ci-lint: %s\n' "$*" >&2; }

# A push that creates a branch reports its "before" commit as all zeros.
if [[ $base =~ ^0+$ ]]; then
	base=
fi

args=()
[[ -n ${MIGRATE_FAIL_ON:-} ]] && args+=(--fail-on "$MIGRATE_FAIL_ON")
[[ -n ${MIGRATE_PG_VERSION:-} ]] && args+=(--pg-version "$MIGRATE_PG_VERSION")
[[ -n ${MIGRATE_CONFIG:-} ]] && args+=(--config "$MIGRATE_CONFIG")
args+=("${extra[@]}")

if [[ -n $base ]]; then
	# actions/checkout fetches one commit by default: fetch the base, then
	# deepen until the merge base is reachable, rather than failing on
	# a checkout option the user did not think about.
	shallow=$(git rev-parse --is-shallow-repository 2>/dev/null)
	if ! git cat-file -e "$base^{commit}" 2>/dev/null; then
		say "fetching $base"
		shallowfetch=()
		# Without --depth a fetch into a shallow clone pulls the base's
		# whole history; the loop below deepens only as far as needed.
		[[ $shallow == true ]] && shallowfetch=(--depth=1)
		git fetch --no-tags --quiet "${shallowfetch[@]}" origin "$base" || say "could not fetch $base"
	fi
	if [[ $shallow == true ]] && ! git merge-base "$base" HEAD >/dev/null 2>&1; then
		say "shallow clone: fetching the history needed for the merge base"
		for depth in 50 500 5000; do
			git fetch --no-tags --quiet --deepen="$depth" origin "$base" 2>/dev/null || true
			git merge-base "$base" HEAD >/dev/null 2>&1 && break
		done
		git merge-base "$base" HEAD >/dev/null 2>&1 ||
			git fetch --no-tags --quiet --unshallow origin 2>/dev/null || true
	fi
	args+=(--changed-since "$base")
elif ((${#paths[@]} == 0)); then
	say "no base ref and no paths: set MIGRATE_PATHS (the action's paths input) to the migrations directory"
	code=2
fi

annotations=$(mktemp)
trap 'rm -f "$annotations"' EXIT

if [[ -z ${code:-} ]]; then
	"$bin" lint "${args[@]}" --format github "${paths[@]}" >"$annotations"
	code=$?
	cat "$annotations"
	if [[ -n $sarif ]]; then
		# The same run again, for code scanning: its exit status is the same
		# unless the file cannot be written.
		"$bin" lint "${args[@]}" --format sarif --output "$sarif" "${paths[@]}" 2>/dev/null
		scode=$?
		if ((scode == 2 && code != 2)); then
			say "writing $sarif failed"
			code=2
		fi
	fi
fi

errors=$(grep -c '^::error ' "$annotations")
warnings=$(grep -c '^::warning ' "$annotations")
notices=$(grep -c '^::notice ' "$annotations")

if [[ -n ${GITHUB_OUTPUT:-} ]]; then
	{
		echo "exit-code=$code"
		echo "errors=$errors"
		echo "warnings=$warnings"
		echo "notices=$notices"
		if [[ -n $sarif && -f $sarif ]]; then
			echo "sarif-file=$sarif"
		fi
	} >>"$GITHUB_OUTPUT"
fi

if [[ -n ${GITHUB_STEP_SUMMARY:-} ]]; then
	{
		echo "### migrate lint"
		echo
		if [[ -n $base ]]; then
			echo "Migrations changed since \`$base\` under \`${paths[*]:-the repository}\`."
		else
			echo "All migrations under \`${paths[*]}\`."
		fi
		echo
		case $code in
		0) echo "**Passed**: $errors error(s), $warnings warning(s), $notices notice(s)." ;;
		1) echo "**Failed**: $errors error(s), $warnings warning(s), $notices notice(s) at or above fail-on (${MIGRATE_FAIL_ON:-error})." ;;
		*) echo "**Could not lint** (exit $code): see the job log." ;;
		esac
		if ((errors + warnings + notices > 0)); then
			echo
			echo "| | File | Line | Rule |"
			echo "|---|---|---|---|"
			# ::error file=F,line=L,...,title=RULE::message → one row each.
			sed -n -E 's/^::(error|warning|notice) file=([^,:]*)(,line=([0-9]+))?.*,title=([^,:]*)::.*/| \1 | `\2` | \4 | \5 |/p' "$annotations"
		fi
	} >>"$GITHUB_STEP_SUMMARY"
fi

if [[ ${MIGRATE_DEFER_EXIT:-} == true ]]; then
	exit 0
fi
exit "$code"
