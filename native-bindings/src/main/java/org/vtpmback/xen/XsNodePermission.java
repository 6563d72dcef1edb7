package org.vtpmback.xen;

/** One {@code struct xs_permissions}: a domain id and XS_PERM_* bits (READ 1, WRITE 2). */
public record XsNodePermission(int domid, int perms) {
}
