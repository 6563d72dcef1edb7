package org.vtpmback.backend.manufacture;

import java.security.Provider;
import org.bouncycastle.jce.provider.BouncyCastleProvider;

/**
 * The one Bouncy Castle provider instance this package uses. It is passed explicitly to every JCA and
 * BC builder and never registered with {@code Security.addProvider}, so the daemon's other users of
 * JCA see the JDK providers only.
 */
final class Bc {
    static final Provider PROVIDER = new BouncyCastleProvider();

    private Bc() {
    }
}
