package org.vtpmback.etcd;

import java.util.regex.Pattern;

/**
 * A host's name in the pool: what its owner keys hold, so that every host can say who runs a vTPM.
 * One name per running daemon; two daemons must never share one, since a host may re-take an owner
 * key that names it (its own crash take-over). Letters, digits, '.', '_' and '-', 1 to 64 of them, so
 * it is safe in logs and in etcd keys. Immutable.
 *
 * @param value the name, e.g. the host's short host name
 */
public record HostId(String value) {
    private static final Pattern FORM = Pattern.compile("[A-Za-z0-9._-]{1,64}");

    public HostId {
        if (value == null || !FORM.matcher(value).matches()) {
            throw new IllegalArgumentException("'" + value + "' is not a host name for the pool"
                    + " (1 to 64 letters, digits, '.', '_' or '-')");
        }
    }

    @Override
    public String toString() {
        return value;
    }
}
