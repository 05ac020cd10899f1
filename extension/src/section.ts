/** One section of the side panel: a title, a one-line message when its call fails, a body. */
import { ApiError } from './api';
import { h } from './dom';

export abstract class Section {
  readonly node: HTMLElement;
  protected readonly body: HTMLElement;
  private readonly message: HTMLElement;

  constructor(
    readonly id: string,
    title: string
  ) {
    this.body = h('div', { class: 'mlops-section-body' });
    this.message = h('div', { class: 'mlops-message', hidden: '' });
    this.node = h(
      'section',
      { class: `mlops-section mlops-${id}`, 'data-section': id },
      h('h3', { class: 'mlops-section-title' }, title),
      this.message,
      this.body
    );
  }

  async refresh(): Promise<void> {
    try {
      await this.load();
      this.message.hidden = true;
      this.message.textContent = '';
    } catch (error) {
      this.fail(error);
    }
  }

  protected fail(error: unknown): void {
    this.message.hidden = false;
    this.message.textContent =
      error instanceof ApiError ? error.message : typeof error === 'string' ? error : `failed: ${String(error)}`;
  }

  protected show(...nodes: Node[]): void {
    this.body.replaceChildren(...nodes);
  }

  protected abstract load(): Promise<void>;
}
