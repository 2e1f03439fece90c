# Shared by the run scripts: the variant's switches, as in the authors' runfiles.
# Usage inside a script: source "$(dirname "$0")/common.sh" "$variant"
case "${1:-bayesian_taml}" in
  maml) variant_flags=(--variant=maml --inner_lr="${MAML_INNER_LR:-0.5}") ;;
  metasgd) variant_flags=(--variant=metasgd) ;;
  bayesian_taml) variant_flags=(--variant=bayesian_taml) ;;
  omega_taml|gamma_taml|z_taml|deterministic_taml) variant_flags=(--variant="$1") ;;
  *) echo "unknown variant: $1 (maml, metasgd, bayesian_taml, ...)" >&2; exit 2 ;;
esac
