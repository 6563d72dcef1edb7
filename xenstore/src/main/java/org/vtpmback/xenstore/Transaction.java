package org.vtpmback.xenstore;

/**
 * The node operations inside one xenstore transaction. Only valid inside the body passed to
 * {@link XenStore#inTransaction}; the store commits or aborts it.
 */
public interface Transaction extends XenStoreOps {
}
