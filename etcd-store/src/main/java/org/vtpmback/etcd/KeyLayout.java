package org.vtpmback.etcd;

import java.nio.charset.StandardCharsets;
import org.vtpmback.backend.state.Uuid;

/**
 * Where a pool keeps what, under its prefix (docs/pool.md):
 * <ul>
 *   <li>{@code <prefix>/owner/<uuid>}: the host that may run the vTPM (its {@link HostId}), attached to
 *       that host's lease, so it disappears with the lease;</li>
 *   <li>{@code <prefix>/record/<uuid>}: the vTPM's record, sealed by the caller (etcd sees ciphertext
 *       only); never attached to a lease, so it outlives every host;</li>
 *   <li>{@code <prefix>/deleted/<uuid>}: written with the deletion of the record by {@code vtpmback delete}, so
 *       that a host whose revision mark names the uuid tells a vTPM deleted on purpose (its mark is below this
 *       key's revision: a new vTPM of the uuid may be made) from a record that vanished (refused as rolled
 *       back).</li>
 * </ul>
 */
record KeyLayout(String prefix) {
    byte[] owner(Uuid uuid) {
        return (prefix + "/owner/" + uuid.value()).getBytes(StandardCharsets.UTF_8);
    }

    byte[] record(Uuid uuid) {
        return (prefix + "/record/" + uuid.value()).getBytes(StandardCharsets.UTF_8);
    }

    byte[] deleted(Uuid uuid) {
        return (prefix + "/deleted/" + uuid.value()).getBytes(StandardCharsets.UTF_8);
    }
}
