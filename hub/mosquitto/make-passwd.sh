#!/bin/sh
# Create a Mosquitto password file for the hub and every device, with a fresh random password each.
#
#   make-passwd.sh DEVICES_FILE OUT_DIR
#
# DEVICES_FILE: one device id per line (blank lines and # comments skipped).
# OUT_DIR/facefleet.passwd  the hashed password file for the broker (mode 600)
# OUT_DIR/credentials/<id>.env  MQTT_USERNAME / MQTT_PASSWORD for each device, the hub and the read-only
#                              monitor (mode 600); copy each to its device and delete it here.
# facefleet-hub and facefleet-monitor are reserved: no device may take either name.
set -eu
devices_file=$1
out=$2
umask 077
mkdir -p "$out/credentials"
passwd="$out/facefleet.passwd"
: > "$passwd"
make_user() {
    case $1 in
        *[!a-z0-9_-]*|"") echo "bad id '$1': use lowercase letters, digits, _ and -" >&2; exit 2 ;;
    esac
    secret=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
    mosquitto_passwd -b "$passwd" "$1" "$secret"
    printf 'MQTT_USERNAME=%s\nMQTT_PASSWORD=%s\n' "$1" "$secret" > "$out/credentials/$1.env"
}
make_user facefleet-hub
make_user facefleet-monitor
grep -v '^[[:space:]]*\(#\|$\)' "$devices_file" | while read -r device; do
    case $device in
        facefleet-hub|facefleet-monitor) echo "'$device' is reserved for the hub and the monitor" >&2; exit 2 ;;
    esac
    make_user "$device"
done
echo "wrote $passwd and $(ls "$out/credentials" | wc -l) credential files in $out/credentials" >&2
