# Sourced first by the scripts of infra/: `--help` (or `-h`) prints the script's opening comment,
# its usage, and exits before anything is checked, built or started.
case "${1:-}" in
  -h | --help)
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
    exit 0
    ;;
esac
