package org.vtpmback.etcd;

import java.nio.charset.StandardCharsets;
import org.vtpmback.backend.state.Uuid;

/**
 * Where a pool keeps what, under its prefix (docs/pool.md):
 * <ul>
 *   <li>{@code <prefix>/owner/<uuid>}: the host that may run the vTPM (its {@link HostId}), attached to
 *       that host's lease, so it disappears with the lease;</li>
 *   <li>{@code <prefix>/record/<uuid>}: the vTPM's record, sealed by the caller (etcd sees ciphertext
 *       only); never attached to a lease, so it outlives every host.</li>
 * </ul>
 */
record KeyLayout(String prefix) {
    byte[] owner(Uuid uuid) {
        return (prefix + "/owner/" + uuid.value()).getBytes(StandardCharsets.UTF_8);
    }

    byte[] record(Uuid uuid) {
        return (prefix + "/record/" + uuid.value()).getBytes(StandardCharsets.UTF_8);
    }
}
