package org.vtpmback.test.host;

import java.lang.annotation.ElementType;
import java.lang.annotation.Inherited;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.junit.jupiter.api.extension.ExtendWith;
import org.vtpmback.test.xenstored.UseXenstored;

/**
 * Gives each test of the annotated class a fresh {@link SimulatedVtpmHost} with its daemon started,
 * on the class's private xenstored ({@link UseXenstored}, which this annotation carries), and closes
 * it after the test ({@link SimulatedHostExtension}). Test and {@code @BeforeEach} parameters of
 * type {@link SimulatedVtpmHost} receive it; its {@link SimulatedVtpmHost#work() work} folder is
 * deleted when the test passed and kept when it failed.
 *
 * <pre>{@code
 * @UseSimulatedHost
 * class MyTest {
 *     @Test void t(SimulatedVtpmHost host) throws Exception {
 *         Guest g = host.boot(UUID.randomUUID().toString());
 *     }
 * }
 * }</pre>
 *
 * A class whose tests share one host, or that must configure the host before its daemon starts,
 * builds its own with {@code new SimulatedVtpmHost(xsd, work)}.
 */
@Target(ElementType.TYPE)
@Retention(RetentionPolicy.RUNTIME)
@Inherited
@UseXenstored
@ExtendWith(SimulatedHostExtension.class)
public @interface UseSimulatedHost {
}
