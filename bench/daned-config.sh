# shellcheck shell=bash
# Sourced by restart.sh and rotation.sh: the daned configuration both measure, one zone with
# one TLSA binding (_443._tcp.rot, from certs/rot.pem), rate limiting off as for every server
# in the bench (the dig polls come from one address).
#
# write_daned_config DIR PORT ZONE_FILE [SERVER_LINE ...]: writes DIR/daned.toml; each extra
# argument is one more line of its [server] table.
write_daned_config() {
    local dir=$1 port=$2 zone=$3
    shift 3
    {
        printf 'version = "v1"\n[server]\n'
        printf 'listen = ["127.0.0.1:%s"]\n' "$port"
        printf 'key-dir = "keys"\nstate-dir = "state"\nrate-limit = 0\n'
        local line
        for line in "$@"; do printf '%s\n' "$line"; done
        printf '\n[[zone]]\norigin = "%s"\nfile = "%s"\n' "$ZONE_ORIGIN" "$zone"
        printf '\n[[zone.tlsa]]\nname = "rot"\ncertificate = "certs/rot.pem"\nhost = "rot"\n'
        printf 'ports = [443]\nttl = "300"\n'
    } > "$dir/daned.toml"
}
