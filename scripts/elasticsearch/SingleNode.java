// A single Elasticsearch node started in-process from the server jars on Maven Central.
//
// The official distribution starts the server through its CLI launcher (not published to Maven
// Central), which also installs the entitlement agent and runs the bootstrap checks. For a
// loopback test and development node we need neither: this class builds the same `Node` the
// distribution builds, with the modules found under <path.home>/modules (the script installs
// transport-netty4 there, the HTTP layer), and keeps it running until the JVM is asked to stop.
//
// Usage: java -cp <classes>:<lib>/* SingleNode key=value...   (Elasticsearch settings)

import java.util.Map;
import java.util.Set;
import java.util.concurrent.CountDownLatch;

import org.elasticsearch.common.logging.LogConfigurator;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.node.InternalSettingsPreparer;
import org.elasticsearch.node.Node;
import org.elasticsearch.plugins.PluginsLoader;

public final class SingleNode {
    public static void main(String[] args) throws Exception {
        Settings.Builder builder = Settings.builder();
        for (String arg : args) {
            int equals = arg.indexOf('=');
            if (equals < 1) {
                throw new IllegalArgumentException("expected key=value, got: " + arg);
            }
            builder.put(arg.substring(0, equals), arg.substring(equals + 1));
        }
        Settings settings = builder.build();

        LogConfigurator.configureESLogging();
        LogConfigurator.configureWithoutConfig(settings);
        Environment environment = InternalSettingsPreparer.prepareEnvironment(
            settings, Map.of(), null, () -> settings.get("node.name", "node-1"));
        // Modules are loaded as classic plugins (no module layers, no entitlements): the server
        // itself runs on the class path here, not on the module path.
        PluginsLoader plugins = PluginsLoader.createPluginsLoader(
            PluginsLoader.loadModulesBundles(environment.modulesDir(), false), Set.of(), Map.of(), false);
        Node node = new Node(environment, plugins);
        CountDownLatch closed = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
                node.awaitClose(20, java.util.concurrent.TimeUnit.SECONDS);
            } catch (Exception e) {
                e.printStackTrace();
            } finally {
                closed.countDown();
            }
        }, "single-node-shutdown"));
        node.start();
        System.out.println("single-node: started");
        closed.await();
    }
}
