# Sourced by stack.sh and demo.sh: the local stack's settings, from infra/local/local.env with
# the caller's environment over it. A variable of local.env that the caller also sets keeps the
# caller's value (USERS_API_URL=https://randomuser.me/api/ make up), except how the stack is
# reached, which stays the file's: AWS_* (the local store's credentials, region and endpoint) and
# KAFKA_SECURITY (the local broker speaks plaintext), so settings left in a shell for AWS never
# reach the local stack. Run from the repository's root.
declare -A caller=()
while IFS='=' read -r key _; do
  [[ $key =~ ^[A-Z][A-Z0-9_]*$ && $key != AWS_* && $key != KAFKA_SECURITY ]] || continue
  if [ -n "${!key+x}" ]; then caller[$key]=${!key}; fi
done < infra/local/local.env
set -a; . infra/local/local.env; set +a
for key in "${!caller[@]}"; do export "$key=${caller[$key]}"; done

# The value infra/local/local.env gives `key`.
file_value() { sed -n "s/^$1=//p" infra/local/local.env | tail -1; }

# The variables of local.env whose value the caller's environment changed, one a line.
overridden() {
  local key
  for key in "${!caller[@]}"; do
    [ "${caller[$key]}" = "$(file_value "$key")" ] || echo "$key"
  done | sort
}
