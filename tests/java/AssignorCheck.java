// Kafka's own assignors on inputs given by a test, to compare aiomq's with.
// Usage: AssignorCheck <line>..., cases given line by line (one argument a line), each
//   case <name> <range|roundrobin|cooperative-sticky>
//   topic <topic> <partitions>                                   (any number)
//   member <id> <group.instance.id|-> <generation> <topics,...> <owned t:p,...|->
//   end
// and the output, per case: "case <name>", then "<member> <t:p,...|->" per member, sorted.
// Subscriptions go in a HashMap, as the consumer coordinator passes them.
import java.nio.ByteBuffer;
import java.util.*;
import org.apache.kafka.clients.consumer.internals.AbstractPartitionAssignor;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor.Subscription;
import org.apache.kafka.clients.consumer.CooperativeStickyAssignor;
import org.apache.kafka.clients.consumer.RangeAssignor;
import org.apache.kafka.clients.consumer.RoundRobinAssignor;
import org.apache.kafka.common.TopicPartition;

public class AssignorCheck {
  static List<TopicPartition> partitions(String csv) {
    List<TopicPartition> out = new ArrayList<>();
    if (csv.equals("-")) return out;
    for (String tp : csv.split(",")) {
      int colon = tp.lastIndexOf(':');
      out.add(new TopicPartition(tp.substring(0, colon), Integer.parseInt(tp.substring(colon + 1))));
    }
    return out;
  }

  static AbstractPartitionAssignor assignor(String name) {
    switch (name) {
      case "range": return new RangeAssignor();
      case "roundrobin": return new RoundRobinAssignor();
      case "cooperative-sticky": return new CooperativeStickyAssignor();
      default: throw new IllegalArgumentException(name);
    }
  }

  public static void main(String[] a) {
    // The assignors log to stdout (log4j's default configuration) when claims conflict.
    System.setProperty("log4j2.level", "OFF");
    String name = null, kind = null;
    Map<String, Integer> topics = new HashMap<>();
    Map<String, Subscription> subscriptions = new HashMap<>();
    for (String line : a) {
      String[] f = line.trim().split(" ");
      switch (f[0]) {
        case "case":
          name = f[1];
          kind = f[2];
          topics = new HashMap<>();
          subscriptions = new HashMap<>();
          break;
        case "topic":
          topics.put(f[1], Integer.parseInt(f[2]));
          break;
        case "member":
          int generation = Integer.parseInt(f[3]);
          ByteBuffer userData = ByteBuffer.allocate(4).putInt(0, generation);
          Subscription s = new Subscription(
              Arrays.asList(f[4].split(",")), userData, partitions(f[5]), generation, Optional.empty());
          s.setGroupInstanceId(f[2].equals("-") ? Optional.empty() : Optional.of(f[2]));
          subscriptions.put(f[1], s);
          break;
        case "end":
          Map<String, List<TopicPartition>> result = assignor(kind).assign(topics, subscriptions);
          System.out.println("case " + name);
          for (String member : new TreeSet<>(result.keySet())) {
            List<String> tps = new ArrayList<>();
            for (TopicPartition tp : result.get(member)) tps.add(tp.topic() + ":" + tp.partition());
            Collections.sort(tps);
            System.out.println(member + " " + (tps.isEmpty() ? "-" : String.join(",", tps)));
          }
          break;
        default:
          if (!f[0].isEmpty()) throw new IllegalArgumentException(line);
      }
    }
  }
}
