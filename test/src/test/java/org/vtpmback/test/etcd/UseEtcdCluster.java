package org.vtpmback.test.etcd;

import java.lang.annotation.ElementType;
import java.lang.annotation.Inherited;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Gives the annotated test class its own real etcd cluster on loopback ({@link EtcdCluster}), started
 * before all tests and ended after them by {@link EtcdClusterExtension}. Parameters of type
 * {@link EtcdCluster} receive it. If Debian's etcd-server is missing the class FAILS with instructions.
 *
 * <pre>{@code
 * @UseEtcdCluster(members = 3)
 * class MyTest {
 *     @Test void t(EtcdCluster etcd) throws Exception { etcd.pause(0); ... }
 * }
 * }</pre>
 */
@Target(ElementType.TYPE)
@Retention(RetentionPolicy.RUNTIME)
@Inherited
@ExtendWith(EtcdClusterExtension.class)
public @interface UseEtcdCluster {
    int members() default 3;

    /** https client URLs with client-certificate authentication. */
    boolean tls() default false;
}
