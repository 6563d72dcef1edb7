package org.vtpmback.xenstore.libxs;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Optional;
import org.vtpmback.xen.XsConnection;
import org.vtpmback.xen.XsNodePermission;
import org.vtpmback.xenstore.Transaction;
import org.vtpmback.xenstore.XsPath;
import org.vtpmback.xenstore.XsPermission;

/** The node operations over one connection, bound to one transaction id (0 = none). */
class NodeOps implements Transaction {
    private final XsConnection conn;
    private final int txn;

    NodeOps(XsConnection conn, int txn) {
        this.conn = conn;
        this.txn = txn;
    }

    @Override
    public Optional<String> read(XsPath path) {
        return conn.read(txn, path.value()).map(b -> new String(b, StandardCharsets.UTF_8));
    }

    @Override
    public void write(XsPath path, String value) {
        conn.write(txn, path.value(), value.getBytes(StandardCharsets.UTF_8));
    }

    @Override
    public void mkdir(XsPath path) {
        conn.mkdir(txn, path.value());
    }

    @Override
    public void rm(XsPath path) {
        conn.rm(txn, path.value());
    }

    @Override
    public List<String> list(XsPath path) {
        return conn.directory(txn, path.value()).orElse(List.of());
    }

    @Override
    public List<XsPermission> permissions(XsPath path) {
        return conn.getPermissions(txn, path.value()).orElse(List.of()).stream()
                .map(p -> new XsPermission(p.domid(), XsPermission.Access.ofBits(p.perms())))
                .toList();
    }

    @Override
    public void setPermissions(XsPath path, List<XsPermission> permissions) {
        conn.setPermissions(txn, path.value(), permissions.stream()
                .map(p -> new XsNodePermission(p.domid(), p.access().bits()))
                .toList());
    }
}
