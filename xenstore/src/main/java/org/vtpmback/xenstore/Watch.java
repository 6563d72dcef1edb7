package org.vtpmback.xenstore;

/** A registered watch. {@link #close()} unregisters it; idempotent and safe from any thread. */
public interface Watch extends AutoCloseable {
    XsPath path();

    @Override
    void close();
}
