// kafka-clients' ConsumerProtocol writing and reading the bytes aiomq reads and writes.
// Usage: ConsumerProtocolCheck <request>..., each request answered on one line:
//   encode-subscription <version> <topics,...|-> <user data> <owned t:p,...|-> <generation> <rack|null>
//   encode-assignment <version> <t:p,...|-> <user data>        -> <bytes>
//   decode-subscription <bytes>  -> subscription <topics> <user data> <owned> <generation> <rack>
//   decode-assignment <bytes>    -> assignment <partitions> <user data>
// Bytes are written 0x<hex> (0x alone: empty) or null; lists are in the order Java holds them;
// a generation Java holds as absent is -1. "error <exception class>" when Java refuses a
// request (malformed bytes, say).
import java.nio.ByteBuffer;
import java.util.*;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor.Assignment;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor.Subscription;
import org.apache.kafka.clients.consumer.internals.ConsumerProtocol;
import org.apache.kafka.common.TopicPartition;

public class ConsumerProtocolCheck {
  static String hex(ByteBuffer b) {
    if (b == null) return "null";
    b = b.duplicate();
    StringBuilder s = new StringBuilder("0x");
    while (b.hasRemaining()) s.append(String.format("%02x", b.get()));
    return s.toString();
  }

  static ByteBuffer bytes(String hex) {
    if (hex.equals("null")) return null;
    hex = hex.substring(2);
    ByteBuffer b = ByteBuffer.allocate(hex.length() / 2);
    for (int i = 0; i < hex.length(); i += 2) b.put((byte) Integer.parseInt(hex.substring(i, i + 2), 16));
    return b.flip();
  }

  static List<String> list(String csv) {
    return csv.equals("-") ? new ArrayList<>() : Arrays.asList(csv.split(","));
  }

  static List<TopicPartition> partitions(String csv) {
    List<TopicPartition> out = new ArrayList<>();
    for (String tp : list(csv)) {
      int colon = tp.lastIndexOf(':');
      out.add(new TopicPartition(tp.substring(0, colon), Integer.parseInt(tp.substring(colon + 1))));
    }
    return out;
  }

  static String csv(List<?> items) {
    if (items.isEmpty()) return "-";
    List<String> out = new ArrayList<>();
    for (Object o : items) {
      if (o instanceof TopicPartition) out.add(((TopicPartition) o).topic() + ":" + ((TopicPartition) o).partition());
      else out.add(o.toString());
    }
    return String.join(",", out);
  }

  public static void main(String[] a) {
    for (String line : a) {
      try {
        answer(line.trim().split(" "));
      } catch (RuntimeException e) {
        System.out.println("error " + e.getClass().getSimpleName());
      }
    }
  }

  static void answer(String[] f) {
    switch (f[0]) {
      case "encode-subscription": {
        Optional<String> rack = f[6].equals("null") ? Optional.empty() : Optional.of(f[6]);
        Subscription s = new Subscription(list(f[2]), bytes(f[3]), partitions(f[4]), Integer.parseInt(f[5]), rack);
        System.out.println(hex(ConsumerProtocol.serializeSubscription(s, Short.parseShort(f[1]))));
        break;
      }
      case "encode-assignment": {
        Assignment asg = new Assignment(partitions(f[2]), bytes(f[3]));
        System.out.println(hex(ConsumerProtocol.serializeAssignment(asg, Short.parseShort(f[1]))));
        break;
      }
      case "decode-subscription": {
        Subscription s = ConsumerProtocol.deserializeSubscription(bytes(f[1]));
        System.out.println("subscription " + csv(s.topics()) + " " + hex(s.userData()) + " "
            + csv(s.ownedPartitions()) + " " + s.generationId().orElse(-1) + " " + s.rackId().orElse("null"));
        break;
      }
      case "decode-assignment": {
        Assignment asg = ConsumerProtocol.deserializeAssignment(bytes(f[1]));
        System.out.println("assignment " + csv(asg.partitions()) + " " + hex(asg.userData()));
        break;
      }
      default:
        throw new IllegalStateException("unknown request " + f[0]);
    }
  }
}
