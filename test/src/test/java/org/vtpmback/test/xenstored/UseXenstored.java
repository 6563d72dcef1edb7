package org.vtpmback.test.xenstored;

import java.lang.annotation.ElementType;
import java.lang.annotation.Inherited;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Gives the annotated test class (and its subclasses and @Nested classes) its own private real
 * xenstored, started before all tests and stopped after them by {@link XenstoredExtension}.
 * Test, lifecycle-method and constructor parameters of type {@link XenstoredDaemon} receive it.
 *
 * <pre>{@code
 * @UseXenstored(Flavour.OCAML)
 * class MyTest {
 *     @Test void t(XenstoredDaemon xsd) throws Exception {
 *         try (var dom0 = xsd.connect()) { dom0.write("/a", "1"); }
 *     }
 * }
 * }</pre>
 *
 * A contract suite runs on both daemons by putting the tests in an abstract class and annotating
 * two subclasses with {@code @UseXenstored(Flavour.C)} and {@code @UseXenstored(Flavour.OCAML)}.
 * If the Xen debs are missing the class FAILS (not skipped) with instructions.
 */
@Target(ElementType.TYPE)
@Retention(RetentionPolicy.RUNTIME)
@Inherited
@ExtendWith(XenstoredExtension.class)
public @interface UseXenstored {
    XenstoredDaemon.Flavour value() default XenstoredDaemon.Flavour.C;

    /** Daemon options as {@code key=value} (see {@link XenstoredDaemon#start}), e.g. {@code "test-eagain=true"} for OCAML. */
    String[] options() default {};
}
