#!/usr/bin/perl
# bpe_reference.pl — GPT-2's byte-level BPE in Perl, step for step as OpenAI's encoder.py
# (bytes_to_unicode, get_pairs, bpe by merge rank, the pre-tokenization pattern): it writes the
# expected ids of tests/fixtures/bpe/*.txt that tests/test_bpe.c checks (docs/tokenizer.md).
#
#   scripts/bpe_reference.pl datasets/gpt2 tests/fixtures/bpe/*.txt   writes each X.ids
#   scripts/bpe_reference.pl --check datasets/gpt2                      known GPT-2 ids only
#
# Perl's \s, \p{L} and \p{N} are Unicode's White_Space, L and N: the same sets as the `regex`
# module encoder.py uses. Like Hugging Face's GPT-2 tokenizer, a literal <|endoftext|> in the
# text is cut out first and becomes its id.
use v5.36;
use utf8;
use Encode qw(decode encode);
use JSON::PP;

sub slurp($path) {
    open(my $fh, '<:raw', $path) or die "$path: $!\n";
    local $/;
    my $s = <$fh>;
    close $fh;
    return $s;
}

sub bytes_to_unicode() {
    my @bs = (ord('!') .. ord('~'), ord('¡') .. ord('¬'), ord('®') .. ord('ÿ'));
    my %in = map { $_ => 1 } @bs;
    my @cs = @bs;
    my $n = 0;
    for my $b (0 .. 255) {
        next if $in{$b};
        push @bs, $b;
        push @cs, 256 + $n++;
    }
    my %map;
    $map{ $bs[$_] } = chr($cs[$_]) for 0 .. $#bs;
    return \%map;
}

my $dir_or_flag = shift @ARGV // die "usage: $0 [--check] DIR [FILES...]\n";
my $check = 0;
if ($dir_or_flag eq '--check') { $check = 1; $dir_or_flag = shift @ARGV; }
my $dir = $dir_or_flag;

my $encoder = JSON::PP->new->utf8->decode(slurp("$dir/vocab.json"));
my %ranks;
{
    my @lines = split /\n/, decode('UTF-8', slurp("$dir/merges.txt"), Encode::FB_CROAK);
    shift @lines if @lines && $lines[0] =~ /^#version/;
    my $r = 0;
    for my $l (@lines) {
        next if $l eq '';
        my @p = split / /, $l;
        die "merges.txt: bad line '$l'\n" unless @p == 2;
        $ranks{"$p[0] $p[1]"} = $r++;
    }
}
my $byte_encoder = bytes_to_unicode();
my $pat = qr/'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/;
my %cache;

sub bpe($token) {
    return $cache{$token} if exists $cache{$token};
    my @word = split //, $token;
    while (@word > 1) {
        my ($best, $best_rank);
        for my $i (0 .. $#word - 1) {
            my $r = $ranks{"$word[$i] $word[$i + 1]"};
            if (defined $r && (!defined $best_rank || $r < $best_rank)) {
                $best_rank = $r;
                $best = $i;
            }
        }
        last unless defined $best_rank;
        my ($first, $second) = ($word[$best], $word[$best + 1]);
        my @new;
        my $i = 0;
        while ($i < @word) {
            if ($i < $#word && $word[$i] eq $first && $word[$i + 1] eq $second) {
                push @new, $first . $second;
                $i += 2;
            } else {
                push @new, $word[$i++];
            }
        }
        @word = @new;
    }
    return $cache{$token} = [@word];
}

sub encode_text($text) {
    my @ids;
    my @segs = split /(<\|endoftext\|>)/, $text, -1;
    for my $seg (@segs) {
        if ($seg eq '<|endoftext|>') { push @ids, $encoder->{$seg}; next; }
        while ($seg =~ /$pat/g) {
            my $piece = $&;
            utf8::encode($piece); # (Encode's strict UTF-8 refuses noncharacters like U+FFFF)
            my $tok = join '', map { $byte_encoder->{$_} } unpack('C*', $piece);
            for my $p (@{ bpe($tok) }) {
                my $id = $encoder->{$p};
                die "no id for '$p'\n" unless defined $id;
                push @ids, $id;
            }
        }
    }
    return \@ids;
}

my @known = (["Hello world", [15496, 995]], ["hello world", [31373, 995]], [" the", [262]],
             ["<|endoftext|>", [50256]]);
for my $k (@known) {
    my $got = join ' ', @{ encode_text($k->[0]) };
    my $want = join ' ', @{ $k->[1] };
    die "reference broken: '$k->[0]' gives [$got], GPT-2 gives [$want]\n" if $got ne $want;
}
if ($check) { say "known GPT-2 ids: ok"; exit 0; }

for my $f (@ARGV) {
    my $text = slurp($f);
    utf8::decode($text) or die "$f: not valid UTF-8\n";
    my $ids = encode_text($text);
    (my $out = $f) =~ s/\.txt$/.ids/;
    open(my $fh, '>', $out) or die "$out: $!\n";
    print $fh join(' ', @$ids), "\n";
    close $fh;
    say "$out: ", scalar(@$ids), " ids";
}
