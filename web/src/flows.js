// The protocol steps a labeler takes, each from its key alone: join (sign `Join`), commit (salt
// from a signed `Salt`, labels root, commitment, signed `Commit`, encrypted backup, and the
// signed reveal sealed to the operator when the labeler leaves it) and reveal (the same salt
// again, the labels from this browser or from the backup, signed `Reveal`).

import { openBackup, sealBackup } from './backup.js';
import { sealReveal } from './seal.js';
import {
  JOIN_VALID_SECS, commitmentOf, joinMessage, labelsRoot, saltFromSignature, typedData,
} from './protocol.js';

const committedKey = (id, batchId, address) => `plumbline.committed.${id}.${batchId}.${address}`;
const revealedKey = (id, batchId, address) => `plumbline.revealed.${id}.${batchId}.${address}`;
const leftKey = (id, batchId, address) => `plumbline.left.${id}.${batchId}.${address}`;

/** Whether this browser left the batch's reveal with the operator at commit. */
export function revealLeftWithOperator(id, batchId, address) {
  return localStorage.getItem(leftKey(id, batchId, address)) !== null;
}

/** Joins an experiment: locks the stake and returns the assigned `BATCH`. */
export async function join(app, experiment, cohort) {
  const signer = app.signer;
  const work = await app.api.work(experiment.experiment_id, signer.address);
  const expiresAt = work.now + JOIN_VALID_SECS;
  const message = joinMessage(
    experiment.experiment_id, signer.address, cohort, experiment.spec.stake_per_batch, work.next_nonce, expiresAt,
  );
  const signature = await signer.signTypedData(typedData(experiment, 'Join', message));
  const body = {
    labeler: signer.address,
    stake: String(experiment.spec.stake_per_batch),
    nonce: work.next_nonce,
    expires_at: expiresAt,
    signature,
  };
  if (cohort) body.cohort = cohort;
  return app.api.post(`/experiments/${experiment.experiment_id}/join`, body);
}

async function saltSignature(signer, experiment, batchId) {
  const message = { experimentId: experiment.experiment_id, batchId: BigInt(batchId) };
  return signer.signTypedData(typedData(experiment, 'Salt', message));
}

/** The signed reveal of a batch's labels under the salt of `saltSig`. */
async function signedReveal(signer, experiment, batchId, labels, saltSig) {
  const id = experiment.experiment_id;
  const salt = saltFromSignature(saltSig);
  const signature = await signer.signTypedData(typedData(experiment, 'Reveal', {
    experimentId: id, batchId: BigInt(batchId), labelsRoot: labelsRoot(labels), salt,
  }));
  return { labels, salt, signature };
}

/** Seals and commits a batch's canonical labels. `extra` (rationales) travels only inside the
 * encrypted backup. With `leaveWith` (the server's sealing key) the signed reveal goes along,
 * sealed to it, for the server to reveal at the commit deadline. Returns the commitment. */
export async function commit(app, experiment, batchId, labels, extra, onStep = () => {}, leaveWith = null) {
  const signer = app.signer;
  const id = experiment.experiment_id;
  onStep('salt');
  const saltSig = await saltSignature(signer, experiment, batchId);
  const salt = saltFromSignature(saltSig);
  onStep('root');
  const root = labelsRoot(labels);
  const commitment = commitmentOf(id, batchId, signer.address, root, salt);
  onStep('sign');
  const signature = await signer.signTypedData(
    typedData(experiment, 'Commit', { experimentId: id, batchId: BigInt(batchId), commitment }),
  );
  onStep('backup');
  const backup = await sealBackup(saltSig, id, batchId, signer.address, { labels, ...extra });
  const body = { commitment, signature, backup };
  if (leaveWith) {
    onStep('leave');
    const signed = await signedReveal(signer, experiment, batchId, labels, saltSig);
    body.sealed_reveal = await sealReveal(leaveWith, id, batchId, signer.address, signed);
  }
  onStep('send');
  await app.api.post(`/experiments/${id}/batches/${batchId}/commit`, body);
  localStorage.setItem(committedKey(id, batchId, signer.address), JSON.stringify(labels));
  if (leaveWith) localStorage.setItem(leftKey(id, batchId, signer.address), String(Date.now()));
  return commitment;
}

/** The labels committed for a batch: this browser's copy when it matches the commitment, else
 * the server's encrypted backup, opened with the key. */
async function committedLabels(app, experiment, batchId, saltSig, commitment) {
  const signer = app.signer;
  const id = experiment.experiment_id;
  const salt = saltFromSignature(saltSig);
  const matches = labels => commitmentOf(id, batchId, signer.address, labelsRoot(labels), salt) === commitment;
  const local = localStorage.getItem(committedKey(id, batchId, signer.address));
  if (local) {
    const labels = JSON.parse(local);
    if (matches(labels)) return labels;
  }
  const stored = await app.api.commitOf(id, batchId);
  if (!stored.backup) throw new Error('this browser has no copy of the labels and the commit has no backup');
  const contents = await openBackup(saltSig, id, batchId, signer.address, stored.backup);
  if (!matches(contents.labels)) throw new Error('the backup does not match the commitment');
  return contents.labels;
}

/** Reveals a committed batch. Revealing again is harmless: the server answers `repeat`. */
export async function reveal(app, experiment, batchId, commitment) {
  const signer = app.signer;
  const id = experiment.experiment_id;
  const saltSig = await saltSignature(signer, experiment, batchId);
  const labels = await committedLabels(app, experiment, batchId, saltSig, commitment);
  const signed = await signedReveal(signer, experiment, batchId, labels, saltSig);
  const answer = await app.api.post(`/experiments/${id}/batches/${batchId}/reveal`, signed);
  localStorage.setItem(revealedKey(id, batchId, signer.address), String(Date.now()));
  return answer;
}
