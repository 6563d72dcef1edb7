package org.vtpmback.xenstore;

/** Work done inside a transaction. It may run more than once (EAGAIN retries), so keep it free of side effects outside xenstore. */
@FunctionalInterface
public interface TransactionBody<T> {
    T run(Transaction txn);
}
