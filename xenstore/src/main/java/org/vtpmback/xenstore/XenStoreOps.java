package org.vtpmback.xenstore;

import java.util.List;
import java.util.Optional;

/**
 * The node operations, with or without a transaction. Failures other than absence throw
 * {@link org.vtpmback.xen.XenErrnoException} naming the call, the path and the errno.
 */
public interface XenStoreOps {
    /** The node's value as UTF-8 text; empty when the node does not exist. */
    Optional<String> read(XsPath path);

    /** Writes a value, creating the node and any missing parents. */
    void write(XsPath path, String value);

    /** Creates an empty node (and missing parents); no error if it exists. */
    void mkdir(XsPath path);

    /**
     * Removes the node and its subtree. Removing a node that does not exist is not an error
     * (xenstored itself answers OK when the parent exists).
     */
    void rm(XsPath path);

    /** The names of the node's children; empty when the node does not exist. */
    List<String> list(XsPath path);

    /** The node's permissions, owner first; empty when the node does not exist. */
    List<XsPermission> permissions(XsPath path);

    void setPermissions(XsPath path, List<XsPermission> permissions);
}
